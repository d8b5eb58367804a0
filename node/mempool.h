#pragma once

// Mempool: transactions waiting to be ordered, deduplicated by id and bounded in total bytes and
// per signer, so a flood from one client or peer cannot crowd out the others or exhaust memory.
// Only well-formed transactions for this chain with a valid signature are admitted; the chain
// code's full rules run when the transaction is executed.
//
// Thread-safety: one thread.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "consensus/proposal.h"
#include "crypto/digest_table.h"
#include "crypto/signing.h"
#include "ledger/types.h"

namespace ertr::node {

// What every node requires of a transaction before it may be ordered, from its bytes alone
// (docs/spec/ledger.md section 1.1): canonical bytes (proto::DecodeTransactionToAdmit), this
// chain's id, a body within the size limit, a signature that verifies (a NullOp, only on a
// benchmark chain, needs none; elsewhere it is refused), a payload that decodes and keeps the
// shape rules. Admission applies them, and replicas to every copy in a proposal that they did not
// admit themselves (ADR 0022, ADR 0034; a synced block's certificate covers its bytes, ADR 0038):
// no block that honest replicas decide holds bytes the chain code does not read, or a payload it
// would reject for its shape (free text in a code field, say), whose bytes would stay on the chain
// for good.
struct OrderingRules {
  std::string chain_id;
  std::size_t max_body_bytes = 1u << 20;  // genesis parameters.max_transaction_bytes
  bool benchmark_mode = false;            // genesis parameters.benchmark_mode
};
// The transaction decoded with its typed payload, or why it may not be ordered:
// InvalidArgument, FailedPrecondition (a NullOp off a benchmark chain) or Unauthenticated, naming
// the check and the field. `id`: as for proto::DecodeTransaction, when not null.
// Thread-safe (as `verifier` is).
Result<ledger::Transaction> DecodeOrderable(ByteSpan bytes, const crypto::Digest* id,
                                            const OrderingRules& rules,
                                            const crypto::Verifier& verifier);

struct MempoolLimits {
  std::size_t max_bytes = 64u << 20;
  std::size_t max_per_signer = 2000;
  std::size_t max_transaction_bytes = 1u << 20;
};

class Mempool {
 public:
  // `verifier` must outlive the mempool. `benchmark_mode` is the genesis parameter: with it,
  // NullOps are admitted unsigned (ledger::IsUnsignedCommand); without it they are refused.
  Mempool(std::string chain_id, const crypto::Verifier& verifier, MempoolLimits limits = {},
          bool benchmark_mode = false);

  // Checks and admits a transaction; returns it decoded with its typed payload (decoded once
  // here, for the caller too). AlreadyExists if it is pooled; the errors of DecodeOrderable;
  // ResourceExhausted when a bound is hit (retry later).
  Result<ledger::Transaction> Add(ByteSpan signed_tx);
  const OrderingRules& rules() const { return rules_; }
  // Forgets transactions (committed ones).
  void Remove(const std::vector<crypto::Digest>& ids);

  bool Contains(const crypto::Digest& id) const { return entries_.count(id) > 0; }
  // Whether a pooled SubmitRecord names this ciphertext: its blob must be kept, however long the
  // record waits to be ordered (a network without a quorum orders nothing for hours).
  bool NamesBlob(const crypto::Digest& ciphertext) const {
    return record_blobs_.count(ciphertext) > 0;
  }
  // Transactions pooled from `signer`.
  std::size_t CountFrom(const crypto::PublicKey& signer) const {
    auto it = per_signer_.find(signer);
    return it == per_signer_.end() ? 0 : it->second;
  }
  std::size_t size() const { return entries_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Entry {
    crypto::PublicKey signer;
    std::size_t size = 0;
    std::optional<crypto::Digest> record_blob;  // a SubmitRecord's ciphertext digest
  };
  OrderingRules rules_;
  const crypto::Verifier& verifier_;
  MempoolLimits limits_;
  crypto::DigestMap<Entry> entries_;
  std::map<crypto::PublicKey, std::size_t> per_signer_;
  crypto::DigestMap<std::size_t> record_blobs_;  // pooled SubmitRecords by ciphertext digest
  std::size_t bytes_ = 0;
};

}  // namespace ertr::node
