#pragma once

// Inputs of the replica (STYLE.md rule 1.1). Every event carries the driver's clock reading;
// the replica never reads a clock itself.

#include <cstdint>
#include <variant>
#include <vector>

#include "consensus/messages.h"

namespace ertr::consensus {

enum class TimerId : std::uint8_t {
  kViewChange = 1,  // progress timer: outstanding work not decided in time, or a view change stuck
  kBatchWait = 2,   // a primary's wait for the callers of the block it delivered (ADR 0042)
};

// A message from a peer; `from` is the transport-authenticated sender.
struct MessageReceived {
  ReplicaId from;
  Message message;
};
struct TimerFired {
  TimerId id;
};
// Transactions for ordering (from clients or gossip), already checked for shape by the node; each
// passes ReplicaConfig::transaction_valid.
struct TransactionsReceived {
  std::vector<Transaction> txs;
};
// The driver applied block `height` and computed this state root.
struct BlockExecuted {
  Height height;
  crypto::Digest state_root;
};
// A decided block fetched by block sync, to deliver if its certificate verifies.
// `transactions_checked`: the embedding vouches for its transactions, having run
// ReplicaConfig::certified_transaction_valid on each, or knowing that they need no check; the
// replica then does not run it. The node sets it for every synced block whose certificate
// verified: the certificate covers every byte of the transactions (tx_root, ADR 0038), and honest
// replicas vote only for blocks whose transactions pass (ADR 0022).
struct DecidedReceived {
  Decided decided;
  bool transactions_checked = false;
};

// The driver's established link to validator `peer` went down or came back (section 6). Down
// means the connection closed or failed (the peer's process ended, the kernel gave up on the
// link), not that the peer is merely slow. A hint only: it never decides anything, and it lets a
// backup start a view change sooner when its primary's link is down. Links are taken to be up until
// told otherwise.
struct PeerLink {
  ReplicaId peer;
  bool connected = false;
};

struct Event {
  std::uint64_t now_ms = 0;
  std::variant<MessageReceived, TimerFired, TransactionsReceived, BlockExecuted, DecidedReceived,
               PeerLink>
      body;
};

}  // namespace ertr::consensus
