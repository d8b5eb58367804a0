#include "tests/chaos/fault_proxy.h"

#include <set>

namespace ertr::chaos {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

class FaultProxy::Link : public std::enable_shared_from_this<FaultProxy::Link> {
 public:
  Link(asio::io_context& io, int port, int target, std::mt19937_64& rng,
       std::atomic<std::uint64_t>& resets)
      : io_(io), acceptor_(io), port_(port), target_(target), rng_(rng), resets_(resets) {}

  bool Listen() {
    boost::system::error_code ec;
    const tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(port_));
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    return !ec;
  }

  void Accept() {
    acceptor_.async_accept(
        [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
          if (ec) return;  // closed
          if (self->state_.up) self->Connect(std::move(socket));
          self->Accept();  // a down link accepts and drops: the dialler sees the connection close
        });
  }

  void Set(LinkState s) {
    state_ = s;
    if (!s.up) CloseAll();
  }

  void CloseAll() {
    for (auto& c : conns_) Close(*c);
    conns_.clear();
  }

  void Shutdown() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
    CloseAll();
  }

 private:
  struct Conn {
    explicit Conn(asio::io_context& io) : in(io), out(io) {}
    tcp::socket in, out;
    std::array<std::uint8_t, 65536> up_buf{}, down_buf{};
    bool closed = false;
  };

  void Close(Conn& c) {
    if (c.closed) return;
    c.closed = true;
    boost::system::error_code ignored;
    c.in.close(ignored);
    c.out.close(ignored);
  }

  void Connect(tcp::socket socket) {
    auto c = std::make_shared<Conn>(io_);
    c->in = std::move(socket);
    conns_.insert(c);
    c->out.async_connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(target_)),
        [self = shared_from_this(), c](boost::system::error_code ec) {
          if (ec || c->closed) return self->Drop(c);
          boost::system::error_code ignored;
          c->in.set_option(tcp::no_delay(true), ignored);
          c->out.set_option(tcp::no_delay(true), ignored);
          self->Pump(c, c->in, c->out, c->up_buf);
          self->Pump(c, c->out, c->in, c->down_buf);
        });
  }

  void Drop(const std::shared_ptr<Conn>& c) {
    Close(*c);
    conns_.erase(c);
  }

  void Pump(const std::shared_ptr<Conn>& c, tcp::socket& from, tcp::socket& to,
            std::array<std::uint8_t, 65536>& buf) {
    from.async_read_some(asio::buffer(buf), [self = shared_from_this(), c, &from, &to, &buf](
                                                boost::system::error_code ec, std::size_t n) {
      if (ec || c->closed) return self->Drop(c);
      if (self->state_.reset_probability > 0 && std::uniform_real_distribution<double>(0, 1)(
                                                    self->rng_) < self->state_.reset_probability) {
        ++self->resets_;
        return self->Drop(c);
      }
      auto forward = [self, c, &from, &to, &buf, n] {
        if (c->closed) return;
        asio::async_write(to, asio::buffer(buf.data(), n),
                          [self, c, &from, &to, &buf](boost::system::error_code wec, std::size_t) {
                            if (wec || c->closed) return self->Drop(c);
                            self->Pump(c, from, to, buf);
                          });
      };
      if (self->state_.delay_ms == 0) return forward();
      auto timer = std::make_shared<asio::steady_timer>(self->io_);
      timer->expires_after(std::chrono::milliseconds(self->state_.delay_ms));
      timer->async_wait([timer, forward](boost::system::error_code) { forward(); });
    });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  int port_;
  int target_;
  std::mt19937_64& rng_;
  std::atomic<std::uint64_t>& resets_;
  LinkState state_;
  std::set<std::shared_ptr<Conn>> conns_;
};

FaultProxy::FaultProxy(int validators, int base_listen_port, std::vector<int> target_ports,
                       std::uint64_t seed)
    : n_(validators), base_(base_listen_port), targets_(std::move(target_ports)), rng_(seed) {}

FaultProxy::~FaultProxy() { Stop(); }

bool FaultProxy::Start() {
  for (int i = 0; i < n_; ++i) {
    for (int j = 0; j < n_; ++j) {
      if (i == j) continue;
      auto link = std::make_shared<Link>(io_, listen_port(i, j),
                                         targets_[static_cast<std::size_t>(j)], rng_, resets_);
      if (!link->Listen()) return false;
      link->Accept();
      links_[{i, j}] = link;
    }
  }
  work_.emplace(io_.get_executor());
  thread_ = std::thread([this] { io_.run(); });
  return true;
}

void FaultProxy::Stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] {
    for (auto& [k, link] : links_) link->Shutdown();
  });
  work_.reset();
  thread_.join();  // returns once every socket and timer of the links has finished
}

void FaultProxy::Set(int i, int j, LinkState s) {
  auto it = links_.find({i, j});
  if (it == links_.end()) return;
  asio::post(io_, [link = it->second, s] { link->Set(s); });
}

void FaultProxy::SetBetween(int i, const std::vector<int>& others, LinkState s) {
  for (int j : others) {
    Set(i, j, s);
    Set(j, i, s);
  }
}

void FaultProxy::HealAll() {
  for (auto& [k, link] : links_) Set(k.first, k.second, LinkState{});
}

}  // namespace ertr::chaos
