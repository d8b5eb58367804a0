// Two and three real transports on loopback in one io_context: the links come up between members
// only, carry messages both ways, and refuse what they must without harming the node.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include "net/transport.h"
#include "net/transport_limits.h"

namespace ertr::net {
namespace {

struct Peer {
  std::unique_ptr<crypto::Signer> key = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  std::unique_ptr<Transport> transport;
  std::vector<std::pair<ReplicaId, Bytes>> received;
  std::vector<std::pair<ReplicaId, bool>> links;  // on_peer calls: up or down
};

std::shared_ptr<spdlog::logger> NullLogger() {
  return std::make_shared<spdlog::logger>("test", std::make_shared<spdlog::sinks::null_sink_mt>());
}

// Runs the io_context until pred holds or 20 s of polling pass (a liveness bound).
bool RunUntil(boost::asio::io_context& io, const std::function<bool()>& pred) {
  for (int i = 0; i < 2000 && !pred(); ++i) {
    io.run_for(std::chrono::milliseconds(10));
    io.restart();
  }
  return pred();
}

struct Net {
  boost::asio::io_context io;
  std::vector<Peer> peers;
  std::vector<PeerAddress> addresses;
  std::chrono::milliseconds handshake_timeout{5000};

  explicit Net(int n) : peers(static_cast<std::size_t>(n)) {
    // Bind each transport first (port 0), then tell everyone the addresses.
    for (int i = 0; i < n; ++i) {
      addresses.push_back(
          {ReplicaId(static_cast<std::uint32_t>(i)), peers[i].key->public_key(), "127.0.0.1", 0});
    }
  }
  void Start(int i, std::size_t max_queue = 64u << 20) {
    auto& p = peers[static_cast<std::size_t>(i)];
    p.transport = Make(i, p, addresses[static_cast<std::size_t>(i)].port, max_queue);
    addresses[static_cast<std::size_t>(i)].port = p.transport->listen_port();
  }
  // A transport with validator i's identity, recording into `p`.
  std::unique_ptr<Transport> Make(int i, Peer& p, std::uint16_t port,
                                  std::size_t max_queue = 64u << 20) {
    TransportOptions o;
    o.chain_id = "ertr-test";
    o.self = ReplicaId(static_cast<std::uint32_t>(i));
    o.listen_port = port;
    o.max_queue_bytes = max_queue;
    o.handshake_timeout = handshake_timeout;
    auto t = std::make_unique<Transport>(
        io, o, *p.key, addresses,
        [&p](ReplicaId from, Bytes payload) { p.received.emplace_back(from, std::move(payload)); },
        [&p](ReplicaId peer, bool up) { p.links.emplace_back(peer, up); }, NullLogger());
    REQUIRE(t->Start().ok());
    return t;
  }
};

TEST_CASE("a listen address that cannot be used says which field, why and what to do",
          "[unit][net]") {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor first(io);
  REQUIRE(ListenOn(first, "127.0.0.1", 0, "node.listen").ok());
  const std::uint16_t taken = first.local_endpoint().port();
  boost::asio::ip::tcp::acceptor second(io);
  Status busy = ListenOn(second, "127.0.0.1", taken, "node.http");
  REQUIRE_FALSE(busy.ok());
  CHECK(busy.message().find("(node.http)") != std::string::npos);
  CHECK(busy.message().find("another program already listens on that port") != std::string::npos);
  CHECK_FALSE(second.is_open());
  // The other causes, as the system reports them (an address this machine lacks can be bound
  // where non-local binds are allowed, so it is not tried for real).
  const auto advice = [](int errno_value) {
    return ListenAdvice(boost::system::error_code(errno_value, boost::system::system_category()),
                        "api.listen");
  };
  CHECK(advice(EADDRNOTAVAIL).find("this machine has no such address: give 'api.listen'") !=
        std::string::npos);
  CHECK(advice(EACCES).find("ports below 1024") != std::string::npos);
  CHECK(advice(EADDRINUSE).find("another program already listens") != std::string::npos);
  CHECK(advice(EMFILE) == "check 'api.listen'");
}

TEST_CASE("transports connect members and carry messages both ways", "[unit][net]") {
  Net net(3);
  // Listen in reverse order so that every dialer knows its target's port.
  for (int i = 2; i >= 0; --i) net.Start(i);
  REQUIRE(RunUntil(net.io, [&] {
    return net.peers[0].transport->connected_peers() == 2 &&
           net.peers[1].transport->connected_peers() == 2 &&
           net.peers[2].transport->connected_peers() == 2;
  }));
  net.peers[0].transport->Send(ReplicaId(2), ToBytes("to two"));
  net.peers[2].transport->Broadcast(ToBytes("from two"));
  REQUIRE(RunUntil(net.io, [&] {
    return net.peers[2].received.size() == 1 && net.peers[0].received.size() == 1 &&
           net.peers[1].received.size() == 1;
  }));
  CHECK(net.peers[2].received[0].first == ReplicaId(0));
  CHECK(AsStringView(net.peers[2].received[0].second) == "to two");
  CHECK(net.peers[1].received[0].first == ReplicaId(2));

  // What is queued for a peer and not yet written is known (serving is deferred on it).
  CHECK(net.peers[0].transport->QueuedBytes(ReplicaId(7)) == 0);  // no such peer
  CHECK(net.peers[0].transport->Send(ReplicaId(1), Bytes(1u << 20, 3)));
  CHECK(net.peers[0].transport->QueuedBytes(ReplicaId(1)) >= (1u << 20));
  REQUIRE(RunUntil(net.io, [&] { return net.peers[1].received.size() == 2; }));
  CHECK(net.peers[0].transport->QueuedBytes(ReplicaId(1)) == 0);
  net.peers[1].received.pop_back();
  // A message too large for a frame is dropped and counted; the node does not abort.
  CHECK_FALSE(net.peers[0].transport->Send(ReplicaId(1), Bytes(kMaxFrameBytes, 1)));
  CHECK(net.peers[0].transport->stats().dropped_too_large == 1);
  net.peers[0].transport->Send(ReplicaId(1), ToBytes("still fine"));
  REQUIRE(RunUntil(net.io, [&] { return net.peers[1].received.size() == 2; }));

  // A peer that goes away is re-dialed when it comes back.
  net.peers[2].transport->Stop();
  REQUIRE(RunUntil(net.io, [&] { return net.peers[0].transport->connected_peers() == 1; }));
  net.peers[2].transport.reset();
  net.Start(2);
  REQUIRE(RunUntil(net.io, [&] { return net.peers[0].transport->connected_peers() == 2; }));
}

TEST_CASE("peers given by host name are dialled at the addresses the name resolves to",
          "[unit][net]") {
  // Hospitals advertise names (ertr.hosp-a.example:26600); "localhost" resolves here, to ::1
  // and 127.0.0.1 in some order, and the listeners are on 127.0.0.1 only.
  {
    // A bare root (debootstrap, as tools/fresh-debian builds) has no /etc/hosts, and without it
    // no name resolves to this machine: nothing here can be dialled by name, which says nothing
    // about the transport. Every installed Debian has the entry.
    boost::asio::io_context probe;
    boost::system::error_code ec;
    boost::asio::ip::tcp::resolver(probe).resolve("localhost", "7", ec);
    if (ec) {
      WARN("'localhost' does not resolve on this machine (" << ec.message()
                                                            << "): dialling by name not tested");
      return;
    }
  }
  Net net(3);
  for (auto& a : net.addresses) a.host = "localhost";
  net.addresses[2].host = "no-such-host.invalid";  // never resolves: dials fail, and are retried
  net.Start(1);
  net.Start(0);
  net.Start(2);
  REQUIRE(RunUntil(net.io, [&] {
    return net.peers[0].transport->IsConnected(ReplicaId(1)) &&
           net.peers[1].transport->IsConnected(ReplicaId(0));
  }));
  net.peers[0].transport->Send(ReplicaId(1), ToBytes("by name"));
  REQUIRE(RunUntil(net.io, [&] { return net.peers[1].received.size() == 1; }));
  CHECK_FALSE(net.peers[0].transport->IsConnected(ReplicaId(2)));
  CHECK_FALSE(net.peers[1].transport->IsConnected(ReplicaId(2)));
  // A listener may be given by name too.
  auto by_name = ListenEndpoint(net.io.get_executor(), "localhost", 7, "node.listen");
  REQUIRE(by_name.has_value());
  CHECK(by_name->address().is_loopback());
}

TEST_CASE(
    "a listener is given as a bracketed IPv6 literal, and a name that does not resolve is "
    "refused with the field",
    "[unit][net]") {
  boost::asio::io_context io;
  auto v6 = ListenEndpoint(io.get_executor(), "[::1]", 7, "node.listen");
  REQUIRE(v6.has_value());
  CHECK(v6->address().to_string() == "::1");
  auto bad = ListenEndpoint(io.get_executor(), "no-such-host.invalid", 7, "node.listen");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message().find("node.listen 'no-such-host.invalid' is neither an IP address "
                                   "nor a host name") == 0);
}

TEST_CASE("idle connections from one address cannot keep a validator from dialling in",
          "[unit][net]") {
  Net net(2);
  net.handshake_timeout = std::chrono::seconds(300);  // the idle ones stay for the whole test
  net.Start(1);
  // More connections that never say anything than a node holds at once (64), all from the
  // address validator 0 dials from.
  std::vector<boost::asio::ip::tcp::socket> idle;
  for (int i = 0; i < 80; ++i) {
    idle.emplace_back(net.io);
    idle.back().connect({boost::asio::ip::make_address("127.0.0.1"), net.addresses[1].port});
  }
  for (int i = 0; i < 20; ++i) {
    net.io.run_for(std::chrono::milliseconds(10));
    net.io.restart();
  }
  net.Start(0);
  REQUIRE(RunUntil(net.io, [&] { return net.peers[1].transport->IsConnected(ReplicaId(0)); }));
  // All but the newest eight idle ones were closed to make room.
  CHECK(net.peers[1].transport->stats().handshakes_refused >= 72);
}

TEST_CASE("a link superseded by a new connection is reported down before the new one is up",
          "[unit][net]") {
  Net net(2);
  net.Start(1);
  net.Start(0);
  REQUIRE(RunUntil(net.io, [&] { return net.peers[1].transport->connected_peers() == 1; }));
  REQUIRE(net.peers[1].links == std::vector<std::pair<ReplicaId, bool>>{{ReplicaId(0), true}});
  // Validator 0 dials again while the old link still looks open here (as after a half-open
  // link): what the node asked on the old link will never be answered, so it must hear it end.
  Peer again;
  again.key = std::move(net.peers[0].key);
  auto second = net.Make(0, again, 0);
  REQUIRE(RunUntil(net.io, [&] { return net.peers[1].links.size() >= 3; }));
  net.peers[0].transport->Stop();  // the old instance would otherwise dial back in
  CHECK(net.peers[1].links == std::vector<std::pair<ReplicaId, bool>>{{ReplicaId(0), true},
                                                                      {ReplicaId(0), false},
                                                                      {ReplicaId(0), true}});
  CHECK(net.peers[1].transport->stats().connections_lost == 1);
  // The new link carries messages.
  net.peers[1].transport->Send(ReplicaId(0), ToBytes("to the new link"));
  REQUIRE(RunUntil(net.io, [&] { return again.received.size() == 1; }));
  second->Stop();
  second.reset();
  net.peers[0].transport.reset();  // both used the key `again` holds
}

TEST_CASE("a transport whose key is not in the set is refused", "[unit][net]") {
  Net net(2);
  net.Start(1);
  // Node 0 dials with a key the listener does not know.
  net.peers[0].key = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  net.Start(0);
  for (int i = 0; i < 50; ++i) {
    net.io.run_for(std::chrono::milliseconds(10));
    net.io.restart();
  }
  CHECK(net.peers[1].transport->connected_peers() == 0);
  CHECK(net.peers[1].transport->stats().handshakes_refused >= 1);
}

}  // namespace
}  // namespace ertr::net

namespace ertr::net {
namespace {

int TcpOption(boost::asio::ip::tcp::socket& s, int level, int name) {
  int v = -1;
  socklen_t len = sizeof v;
  REQUIRE(::getsockopt(s.native_handle(), level, name, &v, &len) == 0);
  return v;
}

TEST_CASE("handshake refusals are limited by their kind, whatever key or length the peer sends",
          "[unit][net]") {
  // Two outsiders' keys, two declared lengths: one kind each.
  CHECK(RefusalKind("peer 3af4c2d1 is not a validator of this chain") ==
        RefusalKind("peer abcdefab is not a validator of this chain"));
  CHECK(RefusalKind("peer 3af4c2d1 is not a validator of this chain") ==
        "peer # is not a validator of this chain");
  CHECK(RefusalKind("peer sent a frame of 4096 bytes; the limit is 65536") ==
        RefusalKind("peer sent a frame of 99999999 bytes; the limit is 65536"));
  // Words of the letters a-f stay, and different reasons stay apart.
  CHECK(RefusalKind("not an ertrchain handshake (bad magic or length)") ==
        "not an ertrchain handshake (bad magic or length)");
  CHECK(RefusalKind("peer speaks handshake version 2") !=
        RefusalKind("peer is on another chain than 'a'"));
}

TEST_CASE("validator links detect a dead peer host: keepalive and user timeout are set",
          "[unit][net]") {
  // A powered-off peer or a firewall that drops the connection's state sends no FIN; only these
  // options close such a link (the chaos harness's partitions cannot show it: a proxy's kernel
  // always answers).
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor acceptor(
      io, {boost::asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(0)});
  boost::asio::ip::tcp::socket client(io);
  client.connect(acceptor.local_endpoint());
  TransportOptions options;
  options.keepalive_idle = std::chrono::seconds(7);
  options.keepalive_interval = std::chrono::seconds(3);
  options.keepalive_probes = 4;
  options.user_timeout = std::chrono::seconds(25);
  REQUIRE_FALSE(ApplyLinkOptions(client, options));
  CHECK(TcpOption(client, SOL_SOCKET, SO_KEEPALIVE) == 1);
  CHECK(TcpOption(client, IPPROTO_TCP, TCP_NODELAY) == 1);
  CHECK(TcpOption(client, IPPROTO_TCP, TCP_KEEPIDLE) == 7);
  CHECK(TcpOption(client, IPPROTO_TCP, TCP_KEEPINTVL) == 3);
  CHECK(TcpOption(client, IPPROTO_TCP, TCP_KEEPCNT) == 4);
  CHECK(TcpOption(client, IPPROTO_TCP, TCP_USER_TIMEOUT) == 25000);
}

}  // namespace
}  // namespace ertr::net
