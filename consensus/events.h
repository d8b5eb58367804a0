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
// `transactions_checked`: the embedding already ran ReplicaConfig::certified_transaction_valid on
// every one of its transactions and all passed (the node does, on its verify pool, before it hands
// a synced block over); the replica then does not run it again on its own thread.
struct DecidedReceived {
  Decided decided;
  bool transactions_checked = false;
};

struct Event {
  std::uint64_t now_ms = 0;
  std::variant<MessageReceived, TimerFired, TransactionsReceived, BlockExecuted, DecidedReceived>
      body;
};

}  // namespace ertr::consensus
