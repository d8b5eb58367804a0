// Node: off-chain blobs — uploads, replication gating of record transactions, erasure
// (node/blob_replicator.h, docs/spec/wire.md section 5).

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "crypto/sha256.h"
#include "ledger/queries.h"
#include "node/node.h"

namespace ertr::node {

static_assert(proto::kMaxOfferedBlobBytes == storage::kSmallBlobBytes,
              "a small blob fits in a gossip message's blobs");

bool Node::IsErasedBlob(const crypto::Digest& digest) const {
  if (not_erased_.count(digest)) return false;
  ledger::StateView view(*stores_.state);
  auto record = ledger::RecordByCiphertext(view, digest);
  if (!record) return false;  // unreadable: not known to be erased, and not remembered
  const bool erased = *record && (*record)->erased;
  if (!erased) {
    if (not_erased_.size() >= kMaxNotErasedRemembered) not_erased_.clear();
    not_erased_.insert(digest);
  }
  return erased;
}

std::optional<bool> Node::CommittedRecordNames(const crypto::Digest& digest) const {
  ledger::StateView view(*stores_.state);
  auto record = ledger::RecordByCiphertext(view, digest);
  if (!record) return std::nullopt;
  return record->has_value();
}

std::optional<std::uint64_t> Node::CommittedBlobSize(const crypto::Digest& digest) const {
  ledger::StateView view(*stores_.state);
  auto record = ledger::RecordByCiphertext(view, digest);
  if (!record || !record->has_value()) return std::nullopt;  // unreadable: tracked, as before
  return (*record)->ciphertext_size;
}

bool Node::IsReferencedBlob(const crypto::Digest& digest) const {
  // A record in the mempool waits for it (gated or ordered), or an upload here not submitted yet
  // is it (its pushed copies' holders must stay known until it is); unreadable state: pulled, as
  // before this rule.
  return mempool_->NamesBlob(digest) || unsubmitted_uploads_.count(digest) > 0 ||
         CommittedRecordNames(digest).value_or(true);
}

std::size_t Node::DropGated(const crypto::Digest& digest, std::string_view why,
                            const GatedFilter& which, const crypto::DigestSet* committed) {
  auto it = gated_.find(digest);
  if (it == gated_.end()) return 0;
  std::vector<crypto::Digest> ids;
  std::erase_if(it->second.txs, [&](const GatedTx& g) {
    if (which && !which(g)) return false;
    ids.push_back(g.tx.id);
    return true;
  });
  mempool_->Remove(ids);
  if (it->second.txs.empty()) gated_.erase(it);
  const std::size_t dropped = ids.size();
  std::erase_if(ids, [&](const crypto::Digest& id) {
    return committed != nullptr && committed->contains(id);
  });
  if (!ids.empty()) {
    // Each transaction named, up to 8 (an integrator looks its own up by id).
    std::string named;
    for (std::size_t i = 0; i < ids.size() && i < 8; ++i) {
      named += (i == 0 ? "" : ",") + ids[i].ShortHex();
    }
    log_->warn("event=record_dropped tx={} txs={} digest={} reason=\"{}\"", named, ids.size(),
               digest.ShortHex(), why);
  }
  for (const auto& id : ids) NoteDropped(id, why);
  return dropped;
}

std::string Node::WrongCiphertextSize(const crypto::Digest& digest, std::uint64_t named,
                                      std::uint64_t stored) {
  return "field 'submit_record.ciphertext_size' is " + std::to_string(named) +
         " but the ciphertext " + digest.ShortHex() + "… with that digest has " +
         std::to_string(stored) + " bytes; use the ciphertext_size that UploadRecord returned";
}

void Node::NoteDropped(const crypto::Digest& id, std::string_view why) {
  if (dropped_.insert_or_assign(id, std::string(why)).second) {
    dropped_order_.push_back(id);
    if (dropped_order_.size() > kMaxDroppedRemembered) {
      dropped_.erase(dropped_order_.front());
      dropped_order_.pop_front();
    }
  }
  outbox_.erase(id);  // not sent again: the peers would only drop it too
  const std::string reason(why);
  for (auto& waiter : commit_waiters_.Take(id)) waiter.done(nullptr, 0, nullptr, &reason);
}

bool Node::TakeOfferedBlob(const ledger::SubmitRecord& record, ReplicaId from, AdmitBatch& batch) {
  for (auto& offered : batch.offered) {
    if (offered.blob->size() != record.ciphertext_size) continue;
    if (!offered.digest) offered.digest = crypto::Sha256(*offered.blob);
    if (*offered.digest == record.ciphertext_digest) {
      return replicator_->Accept(record.ciphertext_digest, *offered.blob, from);
    }
  }
  return false;
}

std::optional<ReplicaId> Node::NamedHolder(const ledger::SubmitRecord& record) const {
  if (record.ciphertext_size > storage::kSmallBlobBytes) return std::nullopt;
  for (const auto& institution : record.locator.holder_institutions) {
    if (institution == config_.institution_id) continue;
    const auto it = std::find(institution_ids_.begin(), institution_ids_.end(), institution);
    if (it != institution_ids_.end()) {
      return ReplicaId(static_cast<std::uint32_t>(it - institution_ids_.begin()));
    }
  }
  return std::nullopt;
}

void Node::ReleaseGated(const crypto::Digest& digest) {
  auto it = gated_.find(digest);
  if (it == gated_.end()) return;
  // Each size asked once: the copies of one record, or records naming the digest, mostly agree.
  std::map<std::uint64_t, bool> available;
  auto stored = blobs_->Size(digest);
  const auto own = stored ? std::optional<std::uint64_t>(*stored) : std::nullopt;
  if (own) {
    // The one content with this digest has another size than these name: no honest holder
    // announces theirs.
    std::set<std::uint64_t> wrong;
    for (const auto& g : it->second.txs) {
      if (g.size != *own) wrong.insert(g.size);
    }
    for (const auto size : wrong) {
      DropGated(digest, WrongCiphertextSize(digest, size, *own),
                [size](const GatedTx& g) { return g.size == size; });
    }
    it = gated_.find(digest);
    if (it == gated_.end()) return;
  }
  std::vector<consensus::Transaction> held;
  auto& waiting = it->second.txs;
  for (auto g = waiting.begin(); g != waiting.end();) {
    auto [a, fresh] = available.try_emplace(g->size, false);
    if (fresh) a->second = replicator_->IsAvailable(digest, g->size, own);
    if (a->second) {
      held.push_back(std::move(g->tx));
      g = waiting.erase(g);
    } else {
      ++g;
    }
  }
  if (waiting.empty()) gated_.erase(it);
  if (held.empty()) return;
  // A copy whose transaction committed meanwhile goes no further (OnBlockBlobs forgets the
  // block's copies; this is the backstop): the replica forgets delivered ids after a while.
  ledger::StateView view(*stores_.state);
  std::vector<consensus::Transaction> txs;
  std::vector<crypto::Digest> committed;
  for (auto& tx : held) {
    auto outcome = ledger::TransactionOutcome(view, tx.id);
    if (outcome && *outcome) {
      committed.push_back(tx.id);
    } else {
      txs.push_back(std::move(tx));
    }
  }
  mempool_->Remove(committed);
  log_->debug("event=record_released digest={} txs={}", digest.ShortHex(), txs.size());
  if (!txs.empty()) driver_->Post(consensus::TransactionsReceived{std::move(txs)});
}

void Node::OnBlockBlobs(const std::vector<ledger::Transaction>& txs,
                        const ledger::BlockResult& result) {
  ledger::StateView view(*stores_.state);
  // The block's own transactions are answered by OnBlockApi, whatever their outcome: their copies
  // gated here are forgotten, never said to be dropped. (Made only when a gated record is hit.)
  std::optional<crypto::DigestSet> in_block;
  auto block_ids = [&]() -> const crypto::DigestSet* {
    if (!in_block) {
      in_block.emplace();
      for (const auto& t : txs) in_block->insert(t.signed_tx.id);
    }
    return &*in_block;
  };
  for (std::size_t i = 0; i < txs.size(); ++i) {
    if (!txs[i].payload) continue;
    const auto* submit = std::get_if<ledger::SubmitRecord>(&*txs[i].payload);
    if (!result.results[i].accepted()) {
      // Rejected: a copy of it gated here can never apply.
      if (submit && gated_.count(submit->ciphertext_digest)) {
        const auto& id = txs[i].signed_tx.id;
        DropGated(
            submit->ciphertext_digest, "", [&](const GatedTx& g) { return g.tx.id == id; },
            block_ids());
      }
      continue;
    }
    if (const auto* erase = std::get_if<ledger::EraseRecord>(&*txs[i].payload)) {
      auto record = view.Load<ledger::RecordState>(ledger::keys::Record(erase->record_id));
      if (!record || !*record) continue;
      const auto digest = (*record)->ciphertext_digest;
      not_erased_.erase(digest);
      if (gated_.count(digest)) {
        DropGated(digest, "the record of its ciphertext was erased", {}, block_ids());
      }
      if (auto s = replicator_->Erase(digest); !s.ok()) {
        log_->error("event=blob_erase_failed digest={} reason=\"{}\"", digest.ShortHex(),
                    s.ToString());
      }
    } else if (submit) {
      // Other records naming the ciphertext can never apply now.
      if (gated_.count(submit->ciphertext_digest)) {
        DropGated(submit->ciphertext_digest,
                  "transaction " + txs[i].signed_tx.id.ShortHex() +
                      "… naming the same ciphertext committed first",
                  {}, block_ids());
      }
      replicator_->Settle(submit->ciphertext_digest, submit->ciphertext_size);
    }
  }
}

}  // namespace ertr::node
