#include "net/transport.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <deque>
#include <optional>
#include <vector>

#include "crypto/session.h"
#include "net/frame.h"
#include "net/handshake.h"

namespace ertr::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
// The largest handshake message (kReplySize); nothing bigger is buffered before authentication.
constexpr std::size_t kMaxHandshakeFrame = 128;
constexpr std::size_t kMaxGatheredFrames = 64;
constexpr std::size_t kMaxGatheredBytes = 1u << 20;
// Reads: at least this much room, and up to the rest of the frame being read within the cap.
constexpr std::size_t kReadBytes = 64u << 10;
constexpr std::size_t kMaxReadBytes = 4u << 20;
}  // namespace

boost::system::error_code ApplyLinkOptions(tcp::socket& socket, const TransportOptions& options) {
  boost::system::error_code ec;
  // Consensus messages are small and latency-bound: without TCP_NODELAY, Nagle's algorithm and
  // delayed ACKs hold a vote back for up to 40 ms. Connection::WriteNext gathers queued frames.
  socket.set_option(tcp::no_delay(true), ec);
  if (!ec) socket.set_option(asio::socket_base::keep_alive(true), ec);
  auto set_tcp = [&](int name, long long value) {
    if (ec) return;
    const int v = static_cast<int>(value);
    if (::setsockopt(socket.native_handle(), IPPROTO_TCP, name, &v, sizeof v) != 0) {
      ec = boost::system::error_code(errno, boost::system::system_category());
    }
  };
  set_tcp(TCP_KEEPIDLE, options.keepalive_idle.count());
  set_tcp(TCP_KEEPINTVL, options.keepalive_interval.count());
  set_tcp(TCP_KEEPCNT, options.keepalive_probes);
  set_tcp(TCP_USER_TIMEOUT, std::chrono::milliseconds(options.user_timeout).count());
  return ec;
}

class Transport::Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(Transport& t, tcp::socket socket, std::optional<ReplicaId> dialed)
      : t_(t),
        socket_(std::move(socket)),
        timer_(t.io_),
        dialed_(dialed),
        reader_(kMaxHandshakeFrame) {
    if (auto ec = ApplyLinkOptions(socket_, t.options_)) {
      t.log_->warn("event=socket_options_failed reason=\"{}\"", ec.message());
    }
  }

  void Start() {
    auto self = shared_from_this();
    timer_.expires_after(t_.options_.handshake_timeout);
    timer_.async_wait([self](const boost::system::error_code& ec) {
      if (!ec && !self->established_) self->Close("handshake timed out");
    });
    if (dialed_) {
      initiator_.emplace(t_.options_.chain_id, t_.identity_, t_.peers_.at(*dialed_).key);
      QueueRaw(EncodeFrame(initiator_->Hello()));
    } else {
      auto members = [&t = t_](const crypto::PublicKey& k) { return t.FindByKey(k) != nullptr; };
      responder_.emplace(t_.options_.chain_id, t_.identity_, members);
    }
    ReadMore();
  }

  bool Send(const Bytes& payload) {
    if (closed_ || !sealer_) return false;
    if (payload.size() + crypto::kFrameTagSize > kMaxFrameBytes) {
      ++t_.stats_.dropped_too_large;  // never abort on a message we cannot frame
      t_.log_->error("event=message_too_large bytes={} peer={}", payload.size(), peer_.value());
      return false;
    }
    if (queued_bytes_ + payload.size() > t_.options_.max_queue_bytes) {
      ++t_.stats_.dropped_queue_full;
      return false;
    }
    auto sealed = sealer_->Seal(payload, kFrameHeaderSize);
    if (!sealed) {
      Close(sealed.error().message());
      return false;
    }
    SetFrameHeader(*sealed);
    ++t_.stats_.frames_sent;
    QueueRaw(std::move(*sealed));
    return true;
  }

  void Close(const std::string& why) {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    timer_.cancel();
    t_.OnClosed(this, established_ ? peer_ : dialed_.value_or(ReplicaId(UINT32_MAX)), why);
  }

  bool established() const { return established_; }
  std::size_t queued_bytes() const { return queued_bytes_; }
  bool handshaking() const { return !established_ && !closed_; }
  std::string remote() const {
    boost::system::error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    return ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

 private:
  void QueueRaw(Bytes bytes) {
    queued_bytes_ += bytes.size();
    queue_.push_back(std::move(bytes));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (closed_ || queue_.empty()) {
      writing_ = false;
      return;
    }
    writing_ = true;
    // Everything queued meanwhile leaves in one gathered write (one system call, and with
    // TCP_NODELAY as few packets as the bytes need), bounded per call.
    std::vector<asio::const_buffer> buffers;
    std::size_t bytes = 0;
    for (const auto& frame : queue_) {
      if (!buffers.empty() && (buffers.size() == kMaxGatheredFrames || bytes >= kMaxGatheredBytes))
        break;
      buffers.emplace_back(asio::buffer(frame));
      bytes += frame.size();
    }
    auto self = shared_from_this();
    asio::async_write(
        socket_, buffers,
        [self, frames = buffers.size()](const boost::system::error_code& ec, std::size_t n) {
          if (ec) {
            self->Close("write failed: " + ec.message());
            return;
          }
          self->t_.stats_.bytes_sent += n;
          for (std::size_t i = 0; i < frames; ++i) {
            self->queued_bytes_ -= self->queue_.front().size();
            self->queue_.pop_front();
          }
          self->WriteNext();
        });
  }

  void ReadMore() {
    auto self = shared_from_this();
    // Straight into the frame reader's buffer; room for the rest of a large frame in one read.
    auto area = reader_.ReadArea(std::max(kReadBytes, std::min(reader_.missing(), kMaxReadBytes)));
    socket_.async_read_some(asio::buffer(area.data(), area.size()),
                            [self](const boost::system::error_code& ec, std::size_t n) {
                              if (ec) {
                                self->Close(ec == asio::error::eof
                                                ? "peer closed the connection"
                                                : "read failed: " + ec.message());
                                return;
                              }
                              self->t_.stats_.bytes_received += n;
                              self->reader_.Commit(n);
                              if (self->DrainFrames()) self->ReadMore();
                            });
  }

  // Handles every complete frame; false once the connection is closed.
  bool DrainFrames() {
    while (!closed_) {
      auto frame = reader_.NextView();
      if (!frame) {
        Refuse(frame.error().message());
        return false;
      }
      if (!*frame) return true;
      OnFrame(**frame);
    }
    return false;
  }

  // `frame` is a view into the reader's buffer, valid until the next read.
  void OnFrame(ByteSpan frame) {
    if (established_) {
      auto plain = opener_->Open(frame);
      if (!plain) {
        Close(plain.error().message());
        return;
      }
      ++t_.stats_.frames_received;
      t_.on_message_(peer_, std::move(*plain));
      return;
    }
    if (initiator_) {
      auto confirm = initiator_->OnReply(frame);
      if (!confirm) return Refuse(confirm.error().ToString());
      QueueRaw(EncodeFrame(*confirm));
      auto done = initiator_->Finish();
      if (!done) return Refuse(done.error().ToString());
      return Establish(std::move(*done));
    }
    if (!replied_) {
      auto reply = responder_->OnHello(frame);
      if (!reply) return Refuse(reply.error().ToString());
      replied_ = true;
      QueueRaw(EncodeFrame(*reply));
      return;
    }
    auto done = responder_->OnConfirm(frame);
    if (!done) return Refuse(done.error().ToString());
    Establish(std::move(*done));
  }

  void Refuse(const std::string& why) {
    ++t_.stats_.handshakes_refused;
    t_.LogRefusal(remote(), why);
    Close(why);
  }

  void Establish(Established done) {
    const PeerAddress* peer = t_.FindByKey(done.peer);
    if (peer == nullptr) return Refuse("not a validator of this chain");
    peer_ = peer->id;
    reader_.set_max_frame(kMaxFrameBytes);
    sealer_.emplace(std::move(done.keys.send));
    opener_.emplace(std::move(done.keys.receive));
    established_ = true;
    initiator_.reset();
    responder_.reset();
    timer_.cancel();
    t_.OnEstablished(shared_from_this(), peer_);
  }

  Transport& t_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  std::optional<ReplicaId> dialed_;
  std::optional<HandshakeInitiator> initiator_;
  std::optional<HandshakeResponder> responder_;
  bool replied_ = false;
  bool established_ = false;
  bool closed_ = false;
  ReplicaId peer_;
  std::optional<crypto::FrameSealer> sealer_;
  std::optional<crypto::FrameOpener> opener_;
  FrameReader reader_;
  std::deque<Bytes> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
};

Transport::Transport(asio::io_context& io, TransportOptions options, const crypto::Signer& identity,
                     std::vector<PeerAddress> peers, OnMessage on_message, OnPeer on_peer,
                     std::shared_ptr<spdlog::logger> logger)
    : io_(io),
      options_(std::move(options)),
      identity_(identity),
      on_message_(std::move(on_message)),
      on_peer_(std::move(on_peer)),
      log_(std::move(logger)),
      acceptor_(io),
      jitter_(std::random_device{}()) {
  for (auto& p : peers) {
    if (p.id != options_.self) peers_.emplace(p.id, std::move(p));
  }
}

namespace {

// `host` without the brackets of an IPv6 literal ("[::1]" -> "::1").
std::string BareHost(std::string_view host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::string(host);
}

// Where a connection comes from, for the per-source bound: an IPv4 address, or an IPv6 address's
// /64 (one host of IPv6 usually has a whole /64 to pick addresses from).
std::array<unsigned char, 16> SourceOf(const asio::ip::address& a) {
  std::array<unsigned char, 16> key{};
  if (a.is_v4() || (a.is_v6() && a.to_v6().is_v4_mapped())) {
    const auto v4 =
        a.is_v4() ? a.to_v4() : asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
    const auto b = v4.to_bytes();
    std::copy(b.begin(), b.end(), key.begin() + 12);
    key[0] = 4;
    return key;
  }
  const auto b = a.to_v6().to_bytes();
  std::copy(b.begin(), b.begin() + 8, key.begin());
  return key;
}

}  // namespace

Result<tcp::endpoint> ListenEndpoint(const asio::any_io_executor& ex, std::string_view host,
                                     std::uint16_t port, std::string_view field) {
  const std::string bare = BareHost(host);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(bare, ec);
  if (!ec) return tcp::endpoint(address, port);
  tcp::resolver resolver(ex);
  auto found = resolver.resolve(bare, std::to_string(port), ec);
  if (ec || found.empty()) {
    return Status::InvalidArgument(
        std::string(field) + " '" + std::string(host) +
        "' is neither an IP address nor a host name this machine resolves (" +
        (ec ? ec.message() : std::string("no address")) + "); give an address to listen on");
  }
  return found.begin()->endpoint();
}

std::string ListenAdvice(const boost::system::error_code& ec, std::string_view field) {
  const std::string f(field);
  if (ec == asio::error::address_in_use) {
    return "another program already listens on that port (another ertrd with this config?): "
           "stop it, or give '" +
           f + "' another port";
  }
  if (ec == boost::system::errc::address_not_available) {
    return "this machine has no such address: give '" + f +
           "' one of its own addresses (or 0.0.0.0 for all of them)";
  }
  if (ec == asio::error::access_denied) {
    return "ports below 1024 need extra privileges: give '" + f + "' a port of 1024 or more";
  }
  return "check '" + f + "'";
}

Status ListenOn(tcp::acceptor& acceptor, std::string_view host, std::uint16_t port,
                std::string_view field) {
  ERTR_ASSIGN_OR_RETURN(tcp::endpoint ep,
                        ListenEndpoint(acceptor.get_executor(), host, port, field));
  boost::system::error_code ec;
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) return Status::Ok();
  boost::system::error_code ignored;
  acceptor.close(ignored);
  return Status::Unavailable("cannot listen on " + std::string(host) + ":" + std::to_string(port) +
                             " (" + std::string(field) + "): " + ec.message() + "; " +
                             ListenAdvice(ec, field));
}

Transport::~Transport() { Stop(); }

Status Transport::Start() {
  ERTR_RETURN_IF_ERROR(
      ListenOn(acceptor_, options_.listen_host, options_.listen_port, "node.listen"));
  bound_port_ = acceptor_.local_endpoint().port();
  Accept();
  for (const auto& [id, peer] : peers_) {
    if (options_.self < id) Dial(id);
  }
  return Status::Ok();
}

void Transport::Stop() {
  if (stopped_) return;
  stopped_ = true;
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  for (auto& [id, t] : redial_timers_) t->cancel();
  for (auto& r : resolvers_) r->cancel();
  resolvers_.clear();
  auto conns = established_;
  established_.clear();
  for (auto& [id, c] : conns) c->Close("node stopping");
  if (accept_backoff_) accept_backoff_->cancel();
}

void Transport::Accept() {
  acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
      // Out of file descriptors or similar: wait instead of spinning the io thread.
      log_->warn("event=accept_failed reason=\"{}\"", ec.message());
      if (!accept_backoff_) accept_backoff_ = std::make_unique<asio::steady_timer>(io_);
      accept_backoff_->expires_after(std::chrono::milliseconds(200));
      accept_backoff_->async_wait([this](const boost::system::error_code& e) {
        if (!e && !stopped_) Accept();
      });
      return;
    }
    boost::system::error_code ep_ec;
    const auto source = SourceOf(socket.remote_endpoint(ep_ec).address());
    if (!ep_ec) {
      AdmitInbound(source);
      auto c = std::make_shared<Connection>(*this, std::move(socket), std::nullopt);
      pending_inbound_.push_back({c, source});
      c->Start();
    }
    Accept();
  });
}

void Transport::AdmitInbound(const Source& source) {
  std::erase_if(pending_inbound_, [](const PendingInbound& p) {
    auto c = p.connection.lock();
    return !c || !c->handshaking();
  });
  std::map<Source, std::size_t> per_source;
  for (const auto& p : pending_inbound_) ++per_source[p.source];
  // The oldest pending connection of `from` (the list is oldest first) is closed.
  const auto evict = [&](const Source& from, const char* why) {
    for (auto it = pending_inbound_.begin(); it != pending_inbound_.end(); ++it) {
      if (it->source != from) continue;
      auto c = it->connection.lock();
      pending_inbound_.erase(it);
      ++stats_.handshakes_refused;
      if (c) c->Close(why);
      return;
    }
  };
  if (per_source[source] >= options_.max_pending_per_source) {
    evict(source, "too many handshakes pending from its address; the oldest is closed");
  } else if (pending_inbound_.size() >= options_.max_pending_handshakes) {
    // Of the sources holding the most, the one whose pending connection is oldest.
    std::size_t most = 0;
    for (const auto& [key, n] : per_source) most = std::max(most, n);
    for (const auto& p : pending_inbound_) {
      if (per_source[p.source] != most) continue;
      evict(p.source, "too many handshakes pending; the oldest of the busiest address is closed");
      break;
    }
  }
}

void Transport::Dial(ReplicaId peer) {
  if (stopped_) return;
  const PeerAddress& addr = peers_.at(peer);
  const std::string host = BareHost(addr.host);
  boost::system::error_code ec;
  auto address = asio::ip::make_address(host, ec);
  if (!ec) return Connect(peer, {tcp::endpoint(address, addr.port)});
  // A host name: looked up at every dial (a hospital may move its node to another address),
  // off the io thread; one that does not resolve is a failed dial, tried again with back-off.
  // (Lookups run one at a time on Asio's resolver thread, each up to the system resolver's own
  // timeout; Stop cancels those not started.)
  auto resolver = std::make_shared<tcp::resolver>(io_);
  resolvers_.insert(resolver);
  resolver->async_resolve(host, std::to_string(addr.port),
                          [this, peer, resolver](const boost::system::error_code& err,
                                                 const tcp::resolver::results_type& found) {
                            if (stopped_) return;
                            resolvers_.erase(resolver);
                            if (err || found.empty()) {
                              return OnDialFailed(peer, err ? err : asio::error::host_not_found);
                            }
                            std::vector<tcp::endpoint> endpoints;
                            for (const auto& entry : found) endpoints.push_back(entry.endpoint());
                            Connect(peer, std::move(endpoints));
                          });
}

void Transport::Connect(ReplicaId peer, std::vector<tcp::endpoint> endpoints) {
  auto socket = std::make_shared<tcp::socket>(io_);
  // A peer that drops SYNs would hold a connect for minutes: bound it.
  auto timeout = std::make_shared<asio::steady_timer>(io_, options_.connect_timeout);
  timeout->async_wait([socket](const boost::system::error_code& timer_ec) {
    if (!timer_ec) {
      boost::system::error_code ignored;
      socket->close(ignored);
    }
  });
  asio::async_connect(
      *socket, endpoints,
      [this, peer, socket, timeout](const boost::system::error_code& err, const tcp::endpoint&) {
        timeout->cancel();
        if (stopped_) return;
        if (err) return OnDialFailed(peer, err);
        std::make_shared<Connection>(*this, std::move(*socket), peer)->Start();
      });
}

void Transport::OnDialFailed(ReplicaId peer, const boost::system::error_code& err) {
  auto& failed = dial_failures_[peer];
  ++failed.count;
  if (failed.log.Admit(std::chrono::steady_clock::now())) {
    const PeerAddress& a = peers_.at(peer);
    log_->warn(
        "event=peer_unreachable peer={} address={}:{} dials_failed={} reason=\"{}\" "
        "hint=\"retrying with back-off; check the [[peers]] address of validator {} and that its "
        "ertrd runs\"",
        peer.value(), a.host, a.port, failed.count, err.message(), peer.value());
  }
  ScheduleRedial(peer);
}

void Transport::ScheduleRedial(ReplicaId peer) {
  if (stopped_ || !(options_.self < peer)) return;
  auto& backoff = backoff_[peer];
  backoff =
      backoff.count() == 0 ? options_.min_backoff : std::min(options_.max_backoff, backoff * 2);
  // Full jitter in [backoff/2, backoff], so that restarted nodes do not dial in lockstep.
  const auto half = backoff.count() / 2;
  const auto delay = std::chrono::milliseconds(
      half + static_cast<std::int64_t>(jitter_() % static_cast<std::uint64_t>(half + 1)));
  auto& timer = redial_timers_[peer];
  if (!timer) timer = std::make_unique<asio::steady_timer>(io_);
  timer->expires_after(delay);
  timer->async_wait([this, peer](const boost::system::error_code& ec) {
    if (!ec && !established_.count(peer)) Dial(peer);
  });
}

void Transport::OnEstablished(const std::shared_ptr<Connection>& c, ReplicaId peer) {
  auto it = established_.find(peer);
  if (it != established_.end() && it->second != c) {
    // Closed while still registered, so that the node hears the old link end (what it had asked
    // on it will not be answered) before it hears of the new one.
    auto old = it->second;
    old->Close("superseded by a new connection");
  }
  established_[peer] = c;
  backoff_[peer] = std::chrono::milliseconds(0);
  dial_failures_.erase(peer);
  log_->info("event=peer_connected peer={} remote={}", peer.value(), c->remote());
  on_peer_(peer, true);
}

void Transport::OnClosed(const Connection* c, ReplicaId peer, const std::string& why) {
  auto it = established_.find(peer);
  const bool was_established = it != established_.end() && it->second.get() == c;
  if (was_established) {
    established_.erase(it);
    ++stats_.connections_lost;
    log_->info("event=peer_disconnected peer={} reason=\"{}\"", peer.value(), why);
    on_peer_(peer, false);
  }
  if (!stopped_ && peers_.count(peer) && !established_.count(peer)) ScheduleRedial(peer);
}

std::string RefusalKind(std::string_view why) {
  std::string kind;
  kind.reserve(why.size());
  const auto hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
  for (std::size_t i = 0; i < why.size();) {
    if (!hex(why[i])) {
      kind += why[i++];
      continue;
    }
    std::size_t end = i;
    bool digit = false;
    for (; end < why.size() && hex(why[end]); ++end) {
      digit = digit || std::isdigit(static_cast<unsigned char>(why[end])) != 0;
    }
    // A number or a key's hex (a run with a digit, or a long one) becomes '#'; a word made of
    // the letters a-f ("bad", "faced") stays.
    if (digit || end - i >= 6) {
      kind += '#';
    } else {
      kind.append(why.substr(i, end - i));
    }
    i = end;
  }
  return kind;
}

void Transport::LogRefusal(const std::string& remote, const std::string& why) {
  const auto now = std::chrono::steady_clock::now();
  const std::string kind = RefusalKind(why);
  auto it = refusals_.find(kind);
  if (it == refusals_.end()) {
    if (refusals_.size() >= 256) {
      // Kinds whose window has passed are forgotten, once the lines they left out are said.
      for (auto r = refusals_.begin(); r != refusals_.end();) {
        if (!r->second.WindowOver(now)) {
          ++r;
          continue;
        }
        LogUnloggedRefusal(r->first, r->second, now);
        r = refusals_.erase(r);
      }
      if (refusals_.size() >= 256) refusals_.erase(refusals_.begin());
    }
    it = refusals_.emplace(kind, LogLimiter(std::chrono::seconds(10))).first;
  }
  if (const auto unlogged = it->second.Admit(now)) {
    log_->warn("event=peer_refused remote={} reason=\"{}\" same_refusals_not_logged={}", remote,
               why, *unlogged);
  }
}

void Transport::LogUnloggedRefusal(const std::string& kind, LogLimiter& limiter,
                                   std::chrono::steady_clock::time_point now) {
  // The kind, not one refusal's reason: the count covers every peer refused for it.
  if (const auto line = limiter.TakeUnloggedLine("peer_refused", now, kind); !line.empty()) {
    log_->warn("{}", line);
  }
}

void Transport::LogUnloggedRefusals() {
  const auto now = std::chrono::steady_clock::now();
  for (auto& [kind, limiter] : refusals_) LogUnloggedRefusal(kind, limiter, now);
}

const PeerAddress* Transport::FindByKey(const crypto::PublicKey& key) const {
  for (const auto& [id, p] : peers_) {
    if (p.key == key) return &p;
  }
  return nullptr;
}

bool Transport::Send(ReplicaId to, const Bytes& payload) {
  auto it = established_.find(to);
  if (it == established_.end()) {
    ++stats_.dropped_not_connected;
    return false;
  }
  return it->second->Send(payload);
}

void Transport::Broadcast(const Bytes& payload) {
  auto conns = established_;  // a failed send closes and unregisters its connection
  for (auto& [id, c] : conns) c->Send(payload);
}

std::size_t Transport::connected_peers() const { return established_.size(); }

bool Transport::IsConnected(ReplicaId peer) const { return established_.count(peer) > 0; }

std::size_t Transport::QueuedBytes(ReplicaId peer) const {
  auto it = established_.find(peer);
  return it == established_.end() ? 0 : it->second->queued_bytes();
}

}  // namespace ertr::net
