#pragma once

// Transport: authenticated, encrypted TCP links to the other validators (docs/spec/wire.md).
// One Asio io_context thread runs everything; handlers never block. Each pair of validators keeps
// one connection, dialed by the lower replica id and accepted by the higher. Each peer has its own
// send queue bounded in bytes: a slow or hostile peer fills only its own queue (further messages
// to it are dropped and counted; consensus recovers them by retransmission and sync) and never
// stalls the others. Lost connections are re-dialed with jittered exponential backoff.
//
// Thread-safety: all methods must be called on the io_context's thread.

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/log_limiter.h"
#include "crypto/signing.h"
#include "net/asio.h"

namespace spdlog {
class logger;
}

namespace ertr::net {

struct PeerAddress {
  ReplicaId id;
  crypto::PublicKey key;  // the validator identity from the chain
  std::string host;
  std::uint16_t port = 0;
};

// The endpoint to listen on: `host` is an IP address literal (IPv6 optionally in brackets) or a
// host name, resolved now (its first address). InvalidArgument names `field` and the host.
Result<boost::asio::ip::tcp::endpoint> ListenEndpoint(const boost::asio::any_io_executor& ex,
                                                      std::string_view host, std::uint16_t port,
                                                      std::string_view field);

// Opens, binds and listens `acceptor` on ListenEndpoint(host, port). A failure names `field`,
// the address, what the system said and what to do (the port taken, no such address here, a
// privileged port), as Unavailable; a host that does not resolve as ListenEndpoint says.
Status ListenOn(boost::asio::ip::tcp::acceptor& acceptor, std::string_view host, std::uint16_t port,
                std::string_view field);
// What an operator should do about a listen socket's error `ec` on the address in `field`.
std::string ListenAdvice(const boost::system::error_code& ec, std::string_view field);

struct TransportOptions {
  std::string chain_id;
  ReplicaId self;
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;
  std::size_t max_queue_bytes = 64u << 20;  // per peer
  std::chrono::milliseconds handshake_timeout{5000};
  std::chrono::milliseconds connect_timeout{5000};
  // Unauthenticated connections held at once, and from one source address. Past the second
  // bound, a new connection from that address closes its oldest pending one; past the first, the
  // oldest pending connection of the address holding the most goes. So idle connections from a
  // few addresses cannot keep a validator from dialling in.
  std::size_t max_pending_handshakes = 64;
  std::size_t max_pending_per_source = 8;
  std::chrono::milliseconds min_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  // Dead-link detection by the kernel (TCP keepalive and TCP_USER_TIMEOUT): a peer host that lost
  // power, or a firewall or NAT that silently dropped the connection, sends no FIN or RST, and
  // without these the link would look open for good. As the lower id keeps dialling a pair's one
  // link, a stale link would stop the pair from ever reconnecting. An idle link is probed after
  // keepalive_idle, every keepalive_interval; on Linux, with TCP_USER_TIMEOUT set, a link whose
  // probes or data stay unacknowledged for user_timeout is closed (the kernel then uses it instead
  // of keepalive_probes), so a dead link closes within about user_timeout. A peer whose process
  // is merely slow or stopped still has a kernel that answers, and keeps its link.
  std::chrono::seconds keepalive_idle{5};
  std::chrono::seconds keepalive_interval{2};
  int keepalive_probes = 3;
  std::chrono::seconds user_timeout{20};
};

// A handshake refusal's reason with the numbers and hex it quotes (a key, a declared length)
// replaced by '#': the key its log lines are limited by, so that a peer changing what it sends
// does not earn a log line per connection (exposed for tests).
std::string RefusalKind(std::string_view why);

// Sets TCP_NODELAY and the dead-link detection options above on a connected socket (exposed for
// tests). Errors are returned, not thrown.
boost::system::error_code ApplyLinkOptions(boost::asio::ip::tcp::socket& socket,
                                           const TransportOptions& options);

struct TransportStats {
  std::uint64_t frames_sent = 0;
  std::uint64_t frames_received = 0;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::uint64_t dropped_queue_full = 0;
  std::uint64_t dropped_not_connected = 0;
  std::uint64_t dropped_too_large = 0;
  std::uint64_t handshakes_refused = 0;
  std::uint64_t connections_lost = 0;
};

class Transport {
 public:
  // Called with each decrypted payload from an authenticated peer.
  using OnMessage = std::function<void(ReplicaId from, Bytes payload)>;
  // Called when a peer connects (true) or disconnects (false).
  using OnPeer = std::function<void(ReplicaId peer, bool connected)>;

  // `identity` and `logger` must outlive the transport. `peers` are the other validators.
  Transport(boost::asio::io_context& io, TransportOptions options, const crypto::Signer& identity,
            std::vector<PeerAddress> peers, OnMessage on_message, OnPeer on_peer,
            std::shared_ptr<spdlog::logger> logger);
  ~Transport();
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // Binds the listener and starts dialing. Error if the address cannot be bound.
  Status Start();
  // Closes every connection and the listener.
  void Stop();

  // Queues payload for the peer; dropped (and counted) if it is not connected or its queue is
  // over budget. Whether it was queued.
  bool Send(ReplicaId to, const Bytes& payload);
  void Broadcast(const Bytes& payload);

  // Logs, for each kind of refusal cut short in the log (RefusalKind), how many went unlogged
  // once its window has passed (the owner calls it about once a second, on the io thread).
  void LogUnloggedRefusals();

  std::size_t connected_peers() const;
  // Bytes queued for the peer and not yet written to its socket (0 if not connected).
  std::size_t QueuedBytes(ReplicaId peer) const;
  bool IsConnected(ReplicaId peer) const;
  std::uint16_t listen_port() const { return bound_port_; }
  const TransportStats& stats() const { return stats_; }

  class Connection;  // internal (transport.cc)

 private:
  friend class Connection;
  void Accept();
  void Dial(ReplicaId peer);
  // Connects to the first of `endpoints` that answers (a host name's addresses, in order).
  void Connect(ReplicaId peer, std::vector<boost::asio::ip::tcp::endpoint> endpoints);
  // A dial that failed: counted, logged (the first, then once a minute), and tried again later.
  void OnDialFailed(ReplicaId peer, const boost::system::error_code& err);
  void ScheduleRedial(ReplicaId peer);
  void OnEstablished(const std::shared_ptr<Connection>& c, ReplicaId peer);
  void OnClosed(const Connection* c, ReplicaId peer, const std::string& why);
  const PeerAddress* FindByKey(const crypto::PublicKey& key) const;

  boost::asio::io_context& io_;
  TransportOptions options_;
  const crypto::Signer& identity_;
  std::map<ReplicaId, PeerAddress> peers_;
  OnMessage on_message_;
  OnPeer on_peer_;
  std::shared_ptr<spdlog::logger> log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::map<ReplicaId, std::shared_ptr<Connection>> established_;
  std::map<ReplicaId, std::chrono::milliseconds> backoff_;
  std::map<ReplicaId, std::unique_ptr<boost::asio::steady_timer>> redial_timers_;
  std::mt19937_64 jitter_;
  std::uint16_t bound_port_ = 0;
  bool stopped_ = false;
  // Accepted connections not yet through the handshake, oldest first (AdmitInbound).
  using Source = std::array<unsigned char, 16>;  // an IPv4 address, or an IPv6 /64
  struct PendingInbound {
    std::weak_ptr<Connection> connection;
    Source source;
  };
  std::deque<PendingInbound> pending_inbound_;
  // Host-name lookups in progress (Dial), cancelled by Stop.
  std::set<std::shared_ptr<boost::asio::ip::tcp::resolver>> resolvers_;
  // Makes room for a new inbound connection from `source` (see max_pending_per_source).
  void AdmitInbound(const Source& source);
  std::unique_ptr<boost::asio::steady_timer> accept_backoff_;
  TransportStats stats_;
  // Dials that failed since the peer was last connected: the first failure is logged, then at
  // most one line a minute per peer.
  struct DialFailures {
    std::uint64_t count = 0;
    LogLimiter log{std::chrono::minutes(1)};
  };
  std::map<ReplicaId, DialFailures> dial_failures_;
  // A refusal of one kind (RefusalKind) is logged at most once every 10 s (a misconfigured or
  // hostile peer retries many times a second), with the number not logged since; at most 256
  // kinds are remembered.
  std::map<std::string, LogLimiter> refusals_;
  void LogRefusal(const std::string& remote, const std::string& why);
  void LogUnloggedRefusal(const std::string& kind, LogLimiter& limiter,
                          std::chrono::steady_clock::time_point now);
};

}  // namespace ertr::net
