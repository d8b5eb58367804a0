#include "node/mempool.h"

#include "ledger/shape.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"

namespace ertr::node {

Result<ledger::Transaction> DecodeOrderable(ByteSpan bytes, const crypto::Digest* id,
                                            const OrderingRules& rules,
                                            const crypto::Verifier& verifier) {
  ERTR_ASSIGN_OR_RETURN(ledger::Transaction typed, proto::DecodeTransactionToAdmit(bytes, id));
  const ledger::SignedTransaction& tx = typed.signed_tx;
  if (tx.header.chain_id != rules.chain_id) {
    return Status::InvalidArgument("transaction is for chain '" + tx.header.chain_id +
                                   "', this node runs '" + rules.chain_id + "'");
  }
  if (tx.body.size() > rules.max_body_bytes) {
    return Status::InvalidArgument("transaction body is " + std::to_string(tx.body.size()) +
                                   " bytes; the chain's limit is " +
                                   std::to_string(rules.max_body_bytes));
  }
  if (tx.header.payload == ledger::PayloadType::kGenesis) {
    // The chain code rejects it in any block (a chain has one genesis, its first state): its
    // names and parameters would stay in the block as free text.
    return Status::InvalidArgument(
        "a Genesis transaction is never ordered: a chain's genesis is its first state, made "
        "by `ertrd genesis`");
  }
  if (tx.header.payload == ledger::PayloadType::kNullOp && !rules.benchmark_mode) {
    return Status::FailedPrecondition(
        "NullOp transactions are accepted only on a benchmark network (genesis "
        "parameters.benchmark_mode); this chain is not one");
  }
  // A payload that breaks the shape rules would only be committed as rejected, and its bytes
  // (free text in a code field, say) would stay in the block for good: refused here, the
  // submitter hears the field at once and nothing reaches the chain.
  if (!typed.payload) {
    return Status::InvalidArgument("not admitted: its payload does not decode: " +
                                   typed.payload.error().message());
  }
  if (auto bad = ledger::ValidateShape(*typed.payload)) {
    return Status::InvalidArgument("not admitted: " + bad->ToString());
  }
  if (!ledger::IsAuthentic(tx, verifier, rules.benchmark_mode)) {
    return Status::Unauthenticated("transaction signature does not verify for its signer");
  }
  return typed;
}

Mempool::Mempool(std::string chain_id, const crypto::Verifier& verifier, MempoolLimits limits,
                 bool benchmark_mode)
    : rules_{std::move(chain_id), limits.max_transaction_bytes, benchmark_mode},
      verifier_(verifier),
      limits_(limits) {}

Result<ledger::Transaction> Mempool::Add(ByteSpan bytes) {
  if (bytes.size() > limits_.max_transaction_bytes) {
    return Status::InvalidArgument("transaction is " + std::to_string(bytes.size()) +
                                   " bytes; the limit is " +
                                   std::to_string(limits_.max_transaction_bytes));
  }
  // A copy already pooled (gossip brings several) costs only a scan of its envelope and a hash.
  // Decoding a new one then reuses that id instead of hashing the body again.
  const auto id = proto::PeekTransactionId(bytes);
  if (id && entries_.count(*id)) {
    return Status::AlreadyExists("transaction " + id->ShortHex() + "… is pending already");
  }
  ERTR_ASSIGN_OR_RETURN(ledger::Transaction typed,
                        DecodeOrderable(bytes, id ? &*id : nullptr, rules_, verifier_));
  const ledger::SignedTransaction& tx = typed.signed_tx;
  if (bytes_ + bytes.size() > limits_.max_bytes) {
    return Status::ResourceExhausted("the node's mempool is full; retry shortly");
  }
  auto& count = per_signer_[tx.header.signer];
  if (count >= limits_.max_per_signer) {
    return Status::ResourceExhausted("this signer has " + std::to_string(count) +
                                     " transactions pending; wait for some to commit");
  }
  ++count;
  bytes_ += bytes.size();
  Entry entry{tx.header.signer, bytes.size(), std::nullopt};
  if (const auto* r = std::get_if<ledger::SubmitRecord>(&*typed.payload)) {
    entry.record_blob = r->ciphertext_digest;
    ++record_blobs_[r->ciphertext_digest];
  }
  entries_.emplace(tx.id, std::move(entry));
  return typed;
}

void Mempool::Remove(const std::vector<crypto::Digest>& ids) {
  for (const auto& id : ids) {
    auto it = entries_.find(id);
    if (it == entries_.end()) continue;
    bytes_ -= it->second.size;
    auto s = per_signer_.find(it->second.signer);
    if (s != per_signer_.end() && --s->second == 0) per_signer_.erase(s);
    if (it->second.record_blob) {
      auto b = record_blobs_.find(*it->second.record_blob);
      if (b != record_blobs_.end() && --b->second == 0) record_blobs_.erase(b);
    }
    entries_.erase(it);
  }
}

}  // namespace ertr::node
