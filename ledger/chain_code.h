#pragma once

// ChainCode: validates and applies the transactions of a decided block to the ledger state and
// returns the writes (STYLE.md rule 1.2). Deterministic: the same state and the same block give
// the same writes and outcomes on every validator. Time is the block's time, never a clock.
// Every rule, state key and rejection: docs/spec/ledger.md.
//
// Lifetime: the verifier must outlive the ChainCode. Thread-safety: const methods only; calls on
// distinct states may run concurrently.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/ids.h"
#include "common/state_delta.h"
#include "common/state_reader.h"
#include "crypto/signing.h"
#include "ledger/rejection.h"
#include "ledger/types.h"

namespace ertr::ledger {

struct BlockContext {
  Height height;
  std::uint64_t time_ms = 0;  // the block's time (consensus-agreed)
  // Every transaction's signature is already known to verify: the block is decided, its commit
  // certificate covers every byte of its transactions (ADR 0038), and honest replicas vote only
  // for blocks whose signatures verify (ADR 0022). The signature check is then skipped; the
  // outcome is the same as with it (docs/spec/ledger.md section 1.1).
  bool signatures_certified = false;
};

struct TxResult {
  crypto::Digest tx_id;
  std::optional<Rejection> rejection;  // nullopt: applied
  bool accepted() const { return !rejection.has_value(); }
};

struct BlockResult {
  StateDelta writes;
  std::vector<TxResult> results;  // one per transaction, in block order
};

class ChainCode {
 public:
  explicit ChainCode(const crypto::Verifier& verifier) : verifier_(verifier) {}

  // Checks the genesis transaction (signed by one of the institutions' admin keys) and returns
  // the writes of the initial state. Requires: `state` holds no chain yet. InvalidArgument names
  // the genesis field that is wrong.
  Result<StateDelta> ExecuteGenesis(const Transaction& genesis, const StateReader& state) const;

  // Applies the block's transactions in order. A transaction that breaks a rule is rejected with
  // its reason and changes nothing but its outcome record (and, when it is really its signer's,
  // the signer's nonce). Errors only when the state cannot be read (DataLoss): the node must stop.
  // Requires: `state` is the state after the block's parent, and does not change during the call
  // (each value read is read from it once); genesis has been applied.
  Result<BlockResult> ExecuteBlock(const BlockContext& block, std::span<const Transaction> txs,
                                   const StateReader& state) const;

 private:
  const crypto::Verifier& verifier_;
};

}  // namespace ertr::ledger
