// Node: the integrator API's calls, run on the io thread (node_api.cc has the gRPC service), and
// the transactions the node signs itself: access events and key shares.

#include <spdlog/spdlog.h>

#include "common/version.h"
#include "crypto/envelope.h"
#include "crypto/secure_buffer.h"
#include "ledger/queries.h"
#include "ledger/shape.h"
#include "node/api_internal.h"
#include "node/node.h"
#include "node/testnet.h"
#include "proto/api_codec.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "proto/receipt.h"

namespace ertr::node {

namespace v1 = ertr::v1;
using namespace api;

namespace {
// A transaction the node dropped uncommitted: what the caller is told.
Status Dropped(const crypto::Digest& id, const std::string& why) {
  return Status::FailedPrecondition(
      "transaction " + id.ShortHex() + "… was dropped uncommitted at this node: " + why +
      "; this node will not order it. Correct the cause and submit it again (sending the same "
      "transaction again is safe: a copy that commits elsewhere is answered with its outcome)");
}

// Said when a transaction's outcome is not found: on a benchmark chain, a committed NullOp has
// none (ADR 0023).
std::string NoOutcomeNote(bool benchmark_mode) {
  return benchmark_mode ? " (on this benchmark chain a committed NullOp leaves no outcome to find: "
                          "ADR 0023)"
                        : "";
}
}  // namespace

// ---------------------------------------------------------------------------------------------
// The calls (io thread).

void Node::ApiStatus(v1::NodeStatus& out) const {
  out.set_chain_id(chain_id_);
  out.set_institution_id(config_.institution_id);
  out.set_validator_index(config_.validator_index.value());
  out.set_height(stores_.blocks->LatestHeight().value());
  out.set_state_root(ToString(stores_.state->StateRoot().span()));
  out.set_view(replica_->view().value());
  out.set_view_changing(replica_->view_changing());
  out.set_best_peer_height(best_peer_height_.value());
  out.set_syncing(best_peer_height_ > stores_.blocks->LatestHeight());
  out.set_mempool_transactions(mempool_->size());
  out.set_version(kVersion);
  out.set_records_waiting_for_blob(gated_.size());
  out.set_latest_block_time_ms(last_block_time_ms_);
  for (std::uint32_t i = 0; i < institution_ids_.size(); ++i) {
    if (ReplicaId(i) == config_.validator_index) continue;
    auto* p = out.add_peers();
    p->set_validator_index(i);
    p->set_institution_id(institution_ids_[i]);
    p->set_connected(transport_->IsConnected(ReplicaId(i)));
  }
}

bool Node::IsActiveUser(const crypto::PublicKey& key) const {
  std::lock_guard lock(users_mu_);
  return active_users_.count(key) > 0;
}

Status Node::LoadActiveUsers() {
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto users, view.LoadAll<ledger::UserState>(ledger::keys::Users()));
  std::lock_guard lock(users_mu_);
  active_users_.clear();
  for (const auto& u : users) {
    if (u.active) active_users_.insert(u.key);
  }
  return Status::Ok();
}

Status Node::RequireSynced() const {
  // The validators this node does not hear from can commit without it once they are a quorum
  // (n - f of n): then they may have committed a revoked grant or a deactivated user since its
  // last block. Hearing from at least f peers, any quorum without this node includes one of them,
  // whose status shows the newer height. With fewer, reads and uploads wait rather than be
  // decided on state that may be stale (and a read's access event could not be gossiped either).
  // A peer's status arrives at once on connect, and every second. In a network of four: at least
  // one peer.
  const std::size_t f = validators_->max_faulty();
  if (peer_heights_.size() < f) {
    return Status::Unavailable(
        "this node is connected to " + std::to_string(peer_heights_.size()) + " other " +
        (peer_heights_.size() == 1 ? "validator" : "validators") + ", fewer than the " +
        std::to_string(f) +
        " it needs to tell whether consent or users changed since its last block (the others " +
        "could have committed without it); records are served once enough peers are connected: " +
        "retry shortly, and if it lasts check this node's [[peers]] addresses and network links " +
        "(event=peer_unreachable in its log)");
  }
  // Under load a peer is normally a few blocks ahead (blocks decided in the same pipeline are
  // executed moments apart): only a lag beyond the pipeline window means catching up.
  const Height latest = stores_.blocks->LatestHeight();
  if (best_peer_height_.value() > latest.value() + config_.pipeline_window + 2) {
    return Status::Unavailable("this node is catching up with its peers (height " +
                               std::to_string(latest.value()) + " of " +
                               std::to_string(best_peer_height_.value()) +
                               "); records are served once it has synced, retry shortly");
  }
  return Status::Ok();
}

std::uint64_t Node::ValidUntilHeight() const {
  // Saturating: a height near 2^64 (claimed by fewer than f+1 peers) must not wrap to a past one.
  const std::uint64_t base = std::max(stores_.blocks->LatestHeight(), best_peer_height_).value();
  return base > UINT64_MAX - params_.default_validity_window
             ? UINT64_MAX
             : base + params_.default_validity_window;
}

Status Node::ApiUploadAllowed(const ledger::UserState& caller, const v1::UploadStart& start,
                              bool stored) {
  ERTR_RETURN_IF_ERROR(RequireSynced());
  if (caller.institution_id != config_.institution_id) {
    return Status::PermissionDenied("you are a user of " + caller.institution_id +
                                    "; upload through your own institution's node (this is " +
                                    config_.institution_id + "'s)");
  }
  if (caller.role != ledger::Role::kPhysician && caller.role != ledger::Role::kPhysicist &&
      caller.role != ledger::Role::kIntegrator) {
    return Status::PermissionDenied("your role '" + std::string(ledger::RoleName(caller.role)) +
                                    "' may not submit records (physician, physicist or "
                                    "integrator only)");
  }
  if (start.kind() <= 0 || start.kind() > ledger::kMaxRecordKind) {
    return Status::InvalidArgument("request field 'start.kind' must name a record kind (1.." +
                                   std::to_string(ledger::kMaxRecordKind) + ")");
  }
  // The plaintext bound first: the ciphertext size of a size near 2^64 would wrap.
  if (start.plaintext_size() > kMaxReplicatedBlobBytes ||
      crypto::PayloadCiphertextSize(start.plaintext_size()) > kMaxReplicatedBlobBytes) {
    // A bound of the network, not of this moment: no retry can pass it.
    return Status::InvalidArgument(
        "start.plaintext_size is over the largest record the "
        "network replicates (4 GiB); split the record");
  }
  ERTR_RETURN_IF_ERROR(UploadRoomFor(stored ? 0 : start.plaintext_size()));
  ERTR_ASSIGN_OR_RETURN(auto patient, proto::RequestField<ledger::Pseudonym>(
                                          start.patient_pseudonym(), "start.patient_pseudonym"));
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto p, view.Load<ledger::PatientState>(ledger::keys::Patient(patient)));
  if (!p) {
    return Status::NotFound("patient " + patient.ShortHex() +
                            "… is not registered on this chain; register the pseudonym first "
                            "(ertrctl patient register)");
  }
  return Status::Ok();
}

Status Node::ApiUploadDone(const ledger::UserState& caller, const v1::UploadStart& start,
                           const crypto::Digest& digest, std::uint64_t size,
                           const crypto::DataKey& key, v1::UploadRecordResponse& out) {
  // The state may have moved on; the ciphertext is on this disk already.
  ERTR_RETURN_IF_ERROR(ApiUploadAllowed(caller, start, /*stored=*/true));
  ledger::SubmitRecord r;
  r.record_id = crypto::RandomNonZeroId<ledger::RecordId>();
  r.patient = *proto::RequestField<ledger::Pseudonym>(start.patient_pseudonym(), "patient");
  r.kind = static_cast<ledger::RecordKind>(start.kind());
  r.ciphertext_digest = digest;
  r.ciphertext_size = size;
  r.locator = {digest, {config_.institution_id}};
  r.uploader_institution_id = config_.institution_id;
  ledger::RecordState draft;
  draft.id = r.record_id;
  draft.patient = r.patient;
  draft.kind = r.kind;
  draft.ciphertext_digest = digest;
  draft.ciphertext_size = size;
  draft.holders = {config_.institution_id};
  draft.uploader_user = caller.key;
  draft.uploader_institution_id = config_.institution_id;
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto entitled, ledger::EntitledInstitutions(view, draft, ApiTimeMs()));
  entitled.insert(config_.institution_id);
  for (const auto& id : entitled) {
    ERTR_ASSIGN_OR_RETURN(auto inst,
                          view.Load<ledger::InstitutionState>(ledger::keys::Institution(id)));
    if (!inst) continue;
    const Bytes sealed = crypto::SealDataKey(key, inst->encryption_key);
    r.envelopes.push_back({id, *ledger::SealedKey::FromSpan(sealed, "sealed_key")});
    out.add_envelope_institutions(id);
  }
  ledger::TransactionHeader h;
  h.chain_id = chain_id_;
  h.signer = caller.key;
  h.nonce = crypto::RandomU64();
  h.valid_until_height = ValidUntilHeight();
  const Bytes body = proto::EncodeTransactionBody(h, r);
  // Announced to the peers once the record is submitted (Admit); deleted if it never is.
  unsubmitted_uploads_[digest] = std::chrono::steady_clock::now() + kUploadTtl;
  out.set_record_id(ToString(r.record_id.span()));
  out.set_ciphertext_digest(ToString(digest.span()));
  out.set_ciphertext_size(size);
  out.set_transaction_body(ToString(body));
  out.set_valid_until_height(h.valid_until_height);
  log_->info("event=record_uploaded digest={} bytes={} envelopes={}", digest.ShortHex(), size,
             r.envelopes.size());
  return Status::Ok();
}

void Node::ApiSubmit(const v1::SubmitTransactionRequest& req, v1::SubmitTransactionResponse& out,
                     std::function<void(const Status&)> done) {
  const std::string bytes = req.transaction().SerializeAsString();
  auto decoded = proto::DecodeSignedTransaction(AsBytes(bytes));
  if (!decoded) return done(decoded.error().WithContext("request field 'transaction'"));
  const crypto::Digest id = decoded->id;
  out.set_tx_id(ToString(id.span()));
  auto finish = [this, &out, done, id](const storage::StoredBlock* block, std::uint32_t index,
                                       const ledger::TxResult* result, const std::string* dropped) {
    if (block == nullptr && dropped != nullptr) return done(Dropped(id, *dropped));
    if (block == nullptr) {
      return done(Status::Unavailable(
          "not committed within " + std::to_string(kCommitWaitLimit.count()) +
          " s (or the node is stopping); it may still commit: ask GetTransaction with its tx_id "
          "(ertrctl receipt get --tx TX_ID --out FILE) before sending it again"));
    }
    if (result != nullptr && !result->accepted()) {
      ledger::TxOutcomeState o;
      o.height = block->height.value();
      o.index = index;
      o.reason = result->rejection->reason;
      o.field = result->rejection->field;
      o.message = result->rejection->message;
      return done(Rejected(o));
    }
    out.set_status(v1::TRANSACTION_STATUS_ACCEPTED);
    out.set_height(block->height.value());
    out.set_index(index);
    done(ApiReceipt(*block, index, *out.mutable_receipt()));
  };
  ledger::StateView view(*stores_.state);
  auto outcome = ledger::TransactionOutcome(view, id);
  if (!outcome) return done(outcome.error());
  if (*outcome) {  // a retry of a committed transaction: answer with its outcome
    if (!(*outcome)->accepted) return done(Rejected(**outcome));
    auto block = stores_.blocks->LoadBlock(Height((*outcome)->height));
    if (!block) return done(block.error());
    return finish(&*block, (*outcome)->index, nullptr, nullptr);
  }
  // Looked up just above, on this thread: Admit need not read it again.
  auto admitted = Admit(AsBytes(bytes), std::nullopt, OutcomeCheck::kCallerFoundNone);
  if (!admitted && admitted.error().code() != StatusCode::kAlreadyExists) {
    log_->warn("event=transaction_refused tx={} code={} reason=\"{}\"", id.ShortHex(),
               StatusCodeName(admitted.error().code()), LogText(admitted.error().message()));
    return done(admitted.error());
  }
  if (!req.wait_for_commit()) {
    out.set_status(v1::TRANSACTION_STATUS_PENDING);
    return done(Status::Ok());
  }
  if (commit_waiters_.size() >= kMaxCommitWaiters) {
    out.set_status(v1::TRANSACTION_STATUS_PENDING);  // admitted; the caller polls
    return done(Status::ResourceExhausted(
        "transaction " + id.ShortHex() +
        "… was admitted, but too many calls wait for commits; poll GetTransaction"));
  }
  commit_waiters_.Add(
      id, CommitWaiter{std::chrono::steady_clock::now() + kCommitWaitLimit, std::move(finish)});
}

void Node::ApiSubmitBatch(const v1::SubmitTransactionsRequest& req,
                          v1::SubmitTransactionsResponse& out,
                          std::function<void(const Status&)> done) {
  const auto n = static_cast<std::size_t>(req.transactions_size());
  if (n == 0 || n > kMaxSubmitBatch) {
    return done(Status::InvalidArgument("request field 'transactions' holds " + std::to_string(n) +
                                        " transactions; send 1 to " +
                                        std::to_string(kMaxSubmitBatch) + " per call"));
  }
  // The call ends when the last waited-for transaction is told (on the io thread).
  struct Pending {
    std::size_t left = 1;  // one for the admission loop itself
    std::function<void(const Status&)> done;
    void Release() {
      if (--left == 0) done(Status::Ok());
    }
  };
  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  const bool wait = req.wait_for_commit() && commit_waiters_.size() + n <= kMaxCommitWaiters;
  AdmitBatch batch;
  std::size_t refused = 0;
  std::string first_refusal;
  auto refuse = [&](v1::SubmittedTransaction& r, std::string why) {
    if (refused++ == 0) first_refusal = why;
    r.set_error(std::move(why));
  };
  for (std::size_t i = 0; i < n; ++i) {
    v1::SubmittedTransaction& r = *out.add_results();
    const std::string bytes = req.transactions(static_cast<int>(i)).SerializeAsString();
    auto decoded = proto::DecodeSignedTransaction(AsBytes(bytes));
    if (!decoded) {
      refuse(r, "transactions[" + std::to_string(i) + "]: " + decoded.error().message());
      continue;
    }
    const crypto::Digest id = decoded->id;
    r.set_tx_id(ToString(id.span()));
    auto told = [&r](Height height, std::uint32_t index, const ledger::TxOutcomeState* rejected) {
      r.set_height(height.value());
      r.set_index(index);
      r.set_status(rejected ? v1::TRANSACTION_STATUS_REJECTED : v1::TRANSACTION_STATUS_ACCEPTED);
      if (rejected) {
        r.set_reject_reason(std::string(ledger::RejectReasonName(rejected->reason)));
        r.set_reject_field(rejected->field);
      }
    };
    // Admit looks the id's outcome up itself; only a transaction it already knows (pending, or
    // committed: a retry) needs the outcome read here, to answer with it.
    auto admitted = Admit(AsBytes(bytes), std::nullopt, batch);
    if (!admitted && admitted.error().code() != StatusCode::kAlreadyExists) {
      refuse(r, admitted.error().message());
      continue;
    }
    if (!admitted) {
      ledger::StateView view(*stores_.state);
      auto outcome = ledger::TransactionOutcome(view, id);
      if (!outcome) {  // the call goes on: earlier transactions may be waited for already
        refuse(r, outcome.error().message());
        continue;
      }
      if (*outcome) {  // a retry of a committed transaction: its outcome
        told(Height((*outcome)->height), (*outcome)->index,
             (*outcome)->accepted ? nullptr : &**outcome);
        continue;
      }
    }
    r.set_status(v1::TRANSACTION_STATUS_PENDING);
    if (!wait) continue;
    ++pending->left;
    commit_waiters_.Add(
        id, CommitWaiter{
                std::chrono::steady_clock::now() + kCommitWaitLimit,
                [pending, told, &r](const storage::StoredBlock* block, std::uint32_t index,
                                    const ledger::TxResult* result, const std::string* dropped) {
                  if (block == nullptr && dropped != nullptr) {
                    r.set_error("dropped uncommitted at this node: " + *dropped);
                  } else if (block == nullptr) {
                    r.set_error("not committed within " + std::to_string(kCommitWaitLimit.count()) +
                                " s (or the node is stopping); it may still commit");
                  } else if (result != nullptr && !result->accepted()) {
                    ledger::TxOutcomeState o;
                    o.reason = result->rejection->reason;
                    o.field = result->rejection->field;
                    told(block->height, index, &o);
                  } else {
                    told(block->height, index, nullptr);
                  }
                  pending->Release();
                }});
  }
  FlushAdmitted(batch, std::nullopt);
  if (refused > 0) {
    log_->warn("event=transactions_refused count={} of={} first_reason=\"{}\"", refused, n,
               LogText(first_refusal));
  }
  if (req.wait_for_commit() && !wait) {
    // Each admitted one says so; the call still answers every transaction's fate so far.
    for (auto& r : *out.mutable_results()) {
      if (r.status() == v1::TRANSACTION_STATUS_PENDING) {
        r.set_error(
            "admitted, but not waited for: too many calls wait for commits at this node; "
            "poll GetTransaction");
      }
    }
  }
  pending->Release();
}

Status Node::ApiReceipt(const storage::StoredBlock& block, std::uint32_t index, v1::Receipt& out) {
  if (!receipt_source_ || receipt_source_->height != block.height ||
      receipt_source_->header != block.header) {
    receipt_source_.reset();
    // The bytes as decided, not encoded again: the leaves of tx_root are their hashes.
    ERTR_ASSIGN_OR_RETURN(auto decided, proto::DecodeBlockBodyTransactions(block.body));
    ReceiptSource src{block.height, block.header, std::move(decided), {}};
    src.leaves.reserve(src.txs.size());
    for (const auto& t : src.txs) src.leaves.push_back(consensus::TransactionLeaf(t.bytes));
    receipt_source_ = std::move(src);
  }
  const auto& txs = receipt_source_->txs;
  if (index >= txs.size()) return Status::Internal("transaction index out of range");
  ERTR_ASSIGN_OR_RETURN(Bytes receipt,
                        proto::BuildReceipt(txs[index].bytes, index, receipt_source_->leaves,
                                            block.header, block.certificate));
  if (!out.ParseFromArray(receipt.data(), static_cast<int>(receipt.size()))) {
    return Status::Internal("receipt did not round-trip");
  }
  auto typed = proto::DecodeTransaction(txs[index].bytes, txs[index].id);
  if (typed && typed->payload) {
    if (const auto* r = std::get_if<ledger::SubmitRecord>(&*typed->payload)) {
      ledger::StateView view(*stores_.state);
      ERTR_ASSIGN_OR_RETURN(auto rec,
                            view.Load<ledger::RecordState>(ledger::keys::Record(r->record_id)));
      if (rec && rec->tx_id == txs[index].id) {
        proto::ToWire(*rec, ledger::AccessBasis::kNone, *out.mutable_record());
      }
    }
  }
  return Status::Ok();
}

Status Node::ApiGetTransaction(const v1::GetTransactionRequest& req, v1::TransactionInfo& out) {
  ERTR_ASSIGN_OR_RETURN(auto id, proto::RequestField<crypto::Digest>(req.tx_id(), "tx_id"));
  out.set_tx_id(req.tx_id());
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto outcome, ledger::TransactionOutcome(view, id));
  if (!outcome) {
    if (mempool_->Contains(id)) {
      out.set_status(v1::TRANSACTION_STATUS_PENDING);
      return Status::Ok();
    }
    if (auto d = dropped_.find(id); d != dropped_.end()) {
      return Status::NotFound(Dropped(id, d->second).message());
    }
    return Status::NotFound("no transaction " + id.ShortHex() +
                            "… is committed or waiting at this node" +
                            NoOutcomeNote(benchmark_mode_));
  }
  const auto& o = *outcome;
  out.set_status(o.accepted ? v1::TRANSACTION_STATUS_ACCEPTED : v1::TRANSACTION_STATUS_REJECTED);
  out.set_height(o.height);
  out.set_index(o.index);
  if (!o.accepted) {
    out.set_reject_reason(std::string(ledger::RejectReasonName(o.reason)));
    out.set_reject_field(o.field);
  }
  ERTR_ASSIGN_OR_RETURN(auto block, stores_.blocks->LoadBlock(Height(o.height)));
  ERTR_ASSIGN_OR_RETURN(auto txs, proto::DecodeBlockBody(block.body));
  if (o.index < txs.size()) {
    out.mutable_transaction()->set_body(ToString(txs[o.index].body));
    out.mutable_transaction()->set_signature(ToString(txs[o.index].signature.span()));
  }
  return Status::Ok();
}

void Node::RepairBlob(const crypto::Digest& digest) {
  log_->warn("event=blob_repair digest={} action=\"deleted; pulling it again from the peers\"",
             digest.ShortHex());
  if (!replicator_->Repair(digest)) {
    log_->error("event=blob_repair_failed digest={} reason=\"no peer to pull it from\"",
                digest.ShortHex());
  }
}

Result<Node::OpenedRecord> Node::ApiOpenRecord(const ledger::UserState& caller,
                                               const v1::GetRecordRequest& req) {
  ERTR_ASSIGN_OR_RETURN(auto record_id,
                        proto::RequestField<ledger::RecordId>(req.record_id(), "record_id"));
  const std::string purpose = req.purpose().empty() ? "treatment" : req.purpose();
  if (!ledger::IsValidCode(purpose)) {
    return Status::InvalidArgument(
        "request field 'purpose' must be a code of 1..64 of [A-Za-z0-9._:-] (no free text)");
  }
  ERTR_RETURN_IF_ERROR(RequireSynced());
  if (caller.institution_id != config_.institution_id) {
    // Refused before the record is looked up, so nothing of it is told; not on the chain, which
    // records a node's reads for its own institution's users (docs/spec/ledger.md 1.3): logged
    // here, naming the caller, for this institution's operators.
    log_->info("event=read_denied record={} reason=other_institution user={} institution={}",
               record_id.ShortHex(), caller.key.ShortHex(), caller.institution_id);
    return Status::PermissionDenied("you are a user of " + caller.institution_id +
                                    "; read records through your own institution's node (this "
                                    "is " +
                                    config_.institution_id + "'s)");
  }
  const std::uint64_t now = ApiTimeMs();
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto decision, ledger::EvaluateRead(view, caller.key, record_id, now));
  ledger::AccessEvent event{
      record_id,     caller.key, caller.institution_id, ledger::AccessOutcome::kGranted, purpose,
      WallClockMs(), ""};
  if (!decision.allowed) {
    const auto& d = *decision.denial;
    if (d.reason == ledger::RejectReason::kUnknownRecord) {
      return Status::NotFound("no record " + record_id.ShortHex() + "… on this chain");
    }
    event.outcome = ledger::AccessOutcome::kDenied;
    event.reason = std::string(ledger::RejectReasonName(d.reason));
    QueueAccessEvent(event);
    log_->info("event=read_denied record={} reason={}", record_id.ShortHex(), event.reason);
    if (d.reason == ledger::RejectReason::kErased) {
      return Status::FailedPrecondition("record " + record_id.ShortHex() +
                                        "… was erased at the patient's request");
    }
    // What could change the answer: the patient's consent, or an emergency, but only for a
    // reader whose role may read at all.
    const bool consent_decides = d.reason == ledger::RejectReason::kNoConsent ||
                                 d.reason == ledger::RejectReason::kExpiredGrant ||
                                 d.reason == ledger::RejectReason::kRevokedGrant;
    return Status::PermissionDenied(
        "you may not read record " + record_id.ShortHex() + "…: " + event.reason + " — " +
        d.message + (d.message.empty() || d.message.back() == '.' ? "" : ".") +
        " The refusal is recorded in the patient's audit trail" +
        (consent_decides ? " (consent: ertrctl consent grant; emergency: ertrctl break-glass)."
                         : "."));
  }
  ERTR_ASSIGN_OR_RETURN(auto record,
                        view.Load<ledger::RecordState>(ledger::keys::Record(record_id)));
  ERTR_ASSIGN_OR_RETURN(auto envelope, EnvelopeOf(view, record_id, config_.institution_id));
  if (!envelope) {
    return Status::Unavailable(
        "access is allowed, but " + config_.institution_id +
        " holds no key for this record yet: the uploading institution's node (" +
        record->uploader_institution_id +
        ") posts it after the consent commits; retry in a few seconds (if that node is down, it "
        "shares the key once it is back)");
  }
  if (!blobs_->Contains(record->ciphertext_digest)) {
    // A committed record's blob: pulled from a holder, or asked of the peers in turn.
    replicator_->Settle(record->ciphertext_digest, record->ciphertext_size);
    if (auto need = replicator_->WaitingForDisk(record->ciphertext_digest)) {
      return Status::ResourceExhausted(
          "the record's data is not on this node yet, and its disk is too full to store it (" +
          std::to_string((*need + (1u << 20) - 1) >> 20) + " MiB needed, and " +
          std::to_string(kDiskReserveBytes >> 30) +
          " GiB kept free): the node's operator must free disk space (docs/operations.md, "
          "'Disk space'); the copy arrives within seconds of that");
    }
    return Status::Unavailable(
        "the record's data is still being replicated to this node; retry in a few seconds");
  }
  ERTR_ASSIGN_OR_RETURN(auto key, crypto::OpenEnvelope(envelope->span(), *institution_key_));
  ERTR_ASSIGN_OR_RETURN(auto reader, blobs_->Open(record->ciphertext_digest));
  if (decision.basis == ledger::AccessBasis::kBreakGlass) {
    event.outcome = ledger::AccessOutcome::kBreakGlass;
  }
  // A read is released only once its access event is admitted (signed, in the mempool and
  // gossiped to every peer), so a crash of this node right after cannot lose it.
  pending_access_.push_back(event);
  if (auto s = FlushAccessEvents(); !s.ok()) {
    return Status::Unavailable("the read could not be recorded on chain (" + s.message() +
                               "); nothing was released, retry shortly");
  }
  log_->info("event=record_read record={} basis={}", record_id.ShortHex(),
             ledger::AccessBasisName(decision.basis));
  OpenedRecord opened{record->ciphertext_digest, {}, std::move(key), std::move(reader)};
  proto::ToWire(*record, decision.basis, opened.info);
  return opened;
}

Status Node::ApiListRecords(const ledger::UserState& caller, const v1::ListRecordsRequest& req,
                            v1::ListRecordsResponse& out) {
  ERTR_ASSIGN_OR_RETURN(auto patient, proto::RequestField<ledger::Pseudonym>(
                                          req.patient_pseudonym(), "patient_pseudonym"));
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto p, view.Load<ledger::PatientState>(ledger::keys::Patient(patient)));
  if (!p) return Status::NotFound("patient " + patient.ShortHex() + "… is not registered");
  ERTR_ASSIGN_OR_RETURN(auto visible,
                        ledger::RecordsVisibleTo(view, patient, caller.key, ApiTimeMs()));
  for (const auto& v : visible) proto::ToWire(v.record, v.basis, *out.add_records());
  return Status::Ok();
}

Status Node::ApiMayAudit(const ledger::UserState& caller, const ledger::Pseudonym& patient) {
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto p, view.Load<ledger::PatientState>(ledger::keys::Patient(patient)));
  if (!p) return Status::NotFound("patient " + patient.ShortHex() + "… is not registered");
  if (caller.institution_id == p->home_institution_id) return Status::Ok();
  ERTR_ASSIGN_OR_RETURN(auto records, ledger::RecordsOfPatient(view, patient));
  for (const auto& r : records) {
    if (r.uploader_institution_id == caller.institution_id) return Status::Ok();
    ERTR_ASSIGN_OR_RETURN(auto d, ledger::EvaluateRead(view, caller, r, ApiTimeMs()));
    if (d.allowed) return Status::Ok();
  }
  return Status::PermissionDenied(
      "only the patient's home institution, an institution that submitted the patient's records, "
      "or a user who may read them sees this audit trail and these grants");
}

Status Node::ApiListGrants(const ledger::UserState& caller, const v1::ListGrantsRequest& req,
                           v1::ListGrantsResponse& out) {
  ERTR_ASSIGN_OR_RETURN(auto patient, proto::RequestField<ledger::Pseudonym>(
                                          req.patient_pseudonym(), "patient_pseudonym"));
  ERTR_RETURN_IF_ERROR(ApiMayAudit(caller, patient));
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto grants, ledger::GrantsOfPatient(view, patient));
  const auto now = ApiTimeMs();
  for (const auto& g : grants) proto::ToWire(g, ledger::IsGrantActive(g, now), *out.add_grants());
  return Status::Ok();
}

Status Node::ApiAuditTrail(const ledger::UserState& caller, const v1::GetAuditTrailRequest& req,
                           v1::GetAuditTrailResponse& out) {
  ledger::StateView view(*stores_.state);
  std::vector<ledger::AuditEntry> entries;
  if (req.subject_case() == v1::GetAuditTrailRequest::kPatientPseudonym) {
    ERTR_ASSIGN_OR_RETURN(auto patient, proto::RequestField<ledger::Pseudonym>(
                                            req.patient_pseudonym(), "patient_pseudonym"));
    ERTR_RETURN_IF_ERROR(ApiMayAudit(caller, patient));
    ERTR_ASSIGN_OR_RETURN(entries, ledger::PatientAuditTrail(view, patient));
  } else if (req.subject_case() == v1::GetAuditTrailRequest::kRecordId) {
    ERTR_ASSIGN_OR_RETURN(auto id,
                          proto::RequestField<ledger::RecordId>(req.record_id(), "record_id"));
    ERTR_ASSIGN_OR_RETURN(auto r, view.Load<ledger::RecordState>(ledger::keys::Record(id)));
    if (!r) return Status::NotFound("no record " + id.ShortHex() + "… on this chain");
    // Whoever sees the patient's trail sees each of its records' (a subset of it).
    ERTR_RETURN_IF_ERROR(ApiMayAudit(caller, r->patient));
    ERTR_ASSIGN_OR_RETURN(entries, ledger::RecordAuditTrail(view, id));
  } else {
    return Status::InvalidArgument("set 'patient_pseudonym' or 'record_id'");
  }
  for (const auto& e : entries) proto::ToWire(e, *out.add_entries());
  return Status::Ok();
}

Status Node::ApiGetReceipt(const v1::GetReceiptRequest& req, v1::Receipt& out) {
  ledger::StateView view(*stores_.state);
  crypto::Digest tx_id;
  if (req.subject_case() == v1::GetReceiptRequest::kTxId) {
    ERTR_ASSIGN_OR_RETURN(tx_id, proto::RequestField<crypto::Digest>(req.tx_id(), "tx_id"));
  } else if (req.subject_case() == v1::GetReceiptRequest::kRecordId) {
    ERTR_ASSIGN_OR_RETURN(auto id,
                          proto::RequestField<ledger::RecordId>(req.record_id(), "record_id"));
    ERTR_ASSIGN_OR_RETURN(auto r, view.Load<ledger::RecordState>(ledger::keys::Record(id)));
    if (!r) return Status::NotFound("no record " + id.ShortHex() + "… on this chain");
    tx_id = r->tx_id;
  } else {
    return Status::InvalidArgument("set 'tx_id' or 'record_id'");
  }
  ERTR_ASSIGN_OR_RETURN(auto outcome, ledger::TransactionOutcome(view, tx_id));
  if (!outcome) {
    return Status::NotFound("transaction " + tx_id.ShortHex() + "… is not committed (yet)" +
                            NoOutcomeNote(benchmark_mode_));
  }
  ERTR_ASSIGN_OR_RETURN(auto block, stores_.blocks->LoadBlock(Height(outcome->height)));
  return ApiReceipt(block, outcome->index, out);
}

Status Node::ApiGetBlock(const v1::GetBlockRequest& req, v1::Block& out) {
  const Height latest = stores_.blocks->LatestHeight();
  if (req.height() == 0 || req.height() > latest.value()) {
    return Status::NotFound("no block " + std::to_string(req.height()) + "; heights are 1.." +
                            std::to_string(latest.value()));
  }
  ERTR_ASSIGN_OR_RETURN(auto block, stores_.blocks->LoadBlock(Height(req.height())));
  if (!out.mutable_header()->ParseFromArray(block.header.data(),
                                            static_cast<int>(block.header.size())) ||
      !out.mutable_body()->ParseFromArray(block.body.data(), static_cast<int>(block.body.size())) ||
      !out.mutable_certificate()->ParseFromArray(block.certificate.data(),
                                                 static_cast<int>(block.certificate.size()))) {
    return Status::DataLoss("stored block " + std::to_string(req.height()) + " does not decode");
  }
  if (block.height == latest) out.set_state_root(ToString(stores_.state->StateRoot().span()));
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Node-signed transactions: access events and key shares.

Result<Height> Node::SubmitOwn(const ledger::Payload& payload) {
  ledger::TransactionHeader h;
  h.chain_id = chain_id_;
  h.signer = signer_->public_key();
  h.nonce = crypto::RandomU64();
  h.valid_until_height = ValidUntilHeight();
  auto tx = proto::MakeTransaction(h, payload, *signer_);
  if (!tx) {
    log_->error("event=own_transaction_failed reason=\"{}\"", tx.error().ToString());
    return tx.status();
  }
  auto admitted = Admit(proto::EncodeSignedTransaction(tx->signed_tx), std::nullopt);
  if (!admitted) {
    log_->warn("event=own_transaction_refused reason=\"{}\"", admitted.error().ToString());
    return admitted.error();
  }
  return Height(h.valid_until_height);
}

void Node::QueueAccessEvent(ledger::AccessEvent event) {
  pending_access_.push_back(std::move(event));
  if (pending_access_.size() >= kMaxAccessBatch) {
    (void)FlushAccessEvents();  // a refusal is logged; denials are best effort
    return;
  }
  if (access_flush_armed_) return;
  access_flush_armed_ = true;
  access_flush_.expires_after(kAccessFlushDelay);
  access_flush_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    access_flush_armed_ = false;
    (void)FlushAccessEvents();
  });
}

Status Node::FlushAccessEvents() {
  if (pending_access_.empty()) return Status::Ok();
  ledger::RecordAccess batch;
  batch.events = std::move(pending_access_);
  pending_access_.clear();
  return SubmitOwn(batch).status();
}

Result<std::vector<std::string>> Node::UnsharedEnvelopes(const ledger::StateView& view,
                                                         const ledger::RecordId& record,
                                                         std::uint64_t time_ms,
                                                         Height latest) const {
  ERTR_ASSIGN_OR_RETURN(auto missing, ledger::MissingEnvelopes(view, record, time_ms));
  // A share admitted earlier that can still commit is not posted again (a second grant for the
  // patient in the next block finds that envelope still missing too).
  std::erase_if(missing,
                [&](const std::string& id) { return key_shares_.InFlight(record, id, latest); });
  return missing;
}

void Node::PostKeyShares(const std::set<ledger::Pseudonym>& patients,
                         const std::set<ledger::RecordId>& records, std::uint64_t time_ms,
                         bool replayed) {
  ledger::StateView view(*stores_.state);
  std::vector<ledger::RecordState> candidates;
  for (const auto& patient : patients) {
    auto all = ledger::RecordsOfPatient(view, patient);
    if (all) candidates.insert(candidates.end(), all->begin(), all->end());
  }
  for (const auto& id : records) {
    auto r = view.Load<ledger::RecordState>(ledger::keys::Record(id));
    if (r && *r && !patients.count((*r)->patient)) candidates.push_back(**r);
  }
  const Height latest = stores_.blocks->LatestHeight();
  const auto retry_at = std::chrono::steady_clock::now() + kKeyShareRetryDelay;
  // Shares take at most three quarters of what this node's signer may have pooled: the rest is
  // kept for the access events that every read here must get on chain.
  const std::size_t share_cap =
      std::max<std::size_t>(1, config_.mempool_max_per_signer - config_.mempool_max_per_signer / 4);
  bool mempool_full = false;  // the rest waits for RetryKeyShares, unsealed
  for (const auto& r : candidates) {
    if (r.erased || r.uploader_institution_id != config_.institution_id) continue;
    auto missing = UnsharedEnvelopes(view, r.id, time_ms, latest);
    if (!missing || missing->empty()) {
      if (replayed) deferred_key_shares_.erase(r.id);
      continue;
    }
    if (replayed) {
      deferred_key_shares_.insert(r.id);
      continue;
    }
    if (mempool_full) {
      for (const auto& id : *missing) key_shares_.Refused(r.id, id, retry_at);
      continue;
    }
    auto own = EnvelopeOf(view, r.id, config_.institution_id);
    if (!own || !*own) continue;
    auto key = crypto::OpenEnvelope((*own)->span(), *institution_key_);
    if (!key) {
      log_->error("event=key_share_failed record={} reason=\"{}\"", r.id.ShortHex(),
                  key.error().message());
      continue;
    }
    for (const auto& id : *missing) {
      auto inst = view.Load<ledger::InstitutionState>(ledger::keys::Institution(id));
      if (!inst || !*inst) continue;
      if (!mempool_full && mempool_->CountFrom(signer_->public_key()) >= share_cap) {
        log_->info("event=key_shares_waiting reason=\"{} of this node's transactions are pooled\"",
                   share_cap);
        mempool_full = true;
      }
      if (mempool_full) {
        key_shares_.Refused(r.id, id, retry_at);
        continue;
      }
      const Bytes sealed = crypto::SealDataKey(*key, (*inst)->encryption_key);
      auto posted =
          SubmitOwn(ledger::KeyShare{r.id, {id, *ledger::SealedKey::FromSpan(sealed, "sealed")}});
      if (posted) {
        key_shares_.Admitted(r.id, id, *posted);
        log_->info("event=key_share_posted record={} to={}", r.id.ShortHex(), id);
      } else if (posted.error().code() == StatusCode::kResourceExhausted) {
        // The refusal is logged once; the mempool is not offered the rest of this call.
        key_shares_.Refused(r.id, id, retry_at);
        mempool_full = true;
      }
      // Any other refusal is logged; the next grant or break-glass for the patient tries again.
    }
  }
}

void Node::AuditKeyShares() {
  if (!key_share_audit_next_ || std::chrono::steady_clock::now() < key_share_audit_from_) return;
  // The committed state, read directly: it seeks to where the last slice stopped.
  ledger::StateView view(*stores_.state);
  const Height latest = stores_.blocks->LatestHeight();
  const Bytes prefix = ledger::keys::Records();
  std::set<ledger::RecordId> due;
  std::size_t looked_at = 0;
  std::optional<Bytes> next;  // where the next slice starts; none once every record was seen
  Status failed;
  Status scanned = stores_.state->ScanPrefixFrom(
      prefix, *key_share_audit_next_, [&](ByteSpan key, ByteSpan value) {
        if (looked_at == kKeyShareAuditRecords) {
          next = Bytes(key.begin(), key.end());
          return false;
        }
        ++looked_at;
        auto r = ledger::codec::Decode<ledger::RecordState>(value);
        if (!r) {
          failed = r.error().WithContext("state key " + ToHex(key));
          return false;
        }
        if (r->erased || r->uploader_institution_id != config_.institution_id) return true;
        auto missing = UnsharedEnvelopes(view, r->id, last_block_time_ms_, latest);
        if (!missing) {
          failed = missing.status();
          return false;
        }
        if (!missing->empty()) due.insert(r->id);
        return true;
      });
  if (!scanned.ok() || !failed.ok()) {
    log_->error("event=key_share_audit_failed reason=\"{}\"",
                (scanned.ok() ? failed : scanned).ToString());
    key_share_audit_next_.reset();
    return;
  }
  if (!due.empty()) {
    log_->info("event=key_shares_audited records={}", due.size());
    PostKeyShares({}, due, last_block_time_ms_, false);
  }
  key_share_audit_next_ = std::move(next);
  if (!key_share_audit_next_) log_->info("event=key_share_audit_done");
}

void Node::RetryKeyShares() {
  const auto due =
      key_shares_.TakeDue(stores_.blocks->LatestHeight(), std::chrono::steady_clock::now());
  if (due.empty()) return;
  log_->info("event=key_shares_retried records={}", due.size());
  PostKeyShares({}, due, last_block_time_ms_, false);
}

void Node::ShareDeferredKeys() {
  if (deferred_key_shares_.empty()) return;
  const auto records = std::exchange(deferred_key_shares_, {});
  log_->info("event=key_shares_after_sync records={}", records.size());
  PostKeyShares({}, records, last_block_time_ms_, false);
}

void Node::OnBlockApi(const storage::StoredBlock& block, const ledger::BlockResult& result,
                      const std::vector<ledger::Transaction>& txs, std::uint64_t time_ms) {
  last_block_time_ms_ = std::max(last_block_time_ms_, time_ms);
  std::set<ledger::Pseudonym> widened;
  std::set<ledger::RecordId> own_records;
  const bool replayed = block.height <= synced_through_;
  for (std::uint32_t i = 0; i < txs.size(); ++i) {
    const auto& r = result.results[i];
    // Told now, before this node's next synced save makes the block durable here: a committed
    // block is decided for good, whatever this node's disk does next (ADR 0024).
    for (auto& waiter : commit_waiters_.Take(r.tx_id)) waiter.done(&block, i, &r, nullptr);
    if (!txs[i].payload) continue;
    if (const auto* k = std::get_if<ledger::KeyShare>(&*txs[i].payload)) {
      key_shares_.Committed(k->record_id, k->envelope.institution_id);  // whatever its outcome
    }
    if (!r.accepted()) continue;
    if (const auto* g = std::get_if<ledger::GrantConsent>(&*txs[i].payload)) {
      widened.insert(g->patient);
    } else if (const auto* b = std::get_if<ledger::BreakGlass>(&*txs[i].payload)) {
      widened.insert(b->patient);
    } else if (const auto* s = std::get_if<ledger::SubmitRecord>(&*txs[i].payload)) {
      unsubmitted_uploads_.erase(s->ciphertext_digest);
      // A grant may have committed while the record was on its way: share its key now.
      if (s->uploader_institution_id == config_.institution_id) own_records.insert(s->record_id);
    } else if (const auto* k = std::get_if<ledger::KeyShare>(&*txs[i].payload)) {
      // A replayed share: is that record still due?
      if (deferred_key_shares_.count(k->record_id)) own_records.insert(k->record_id);
    } else if (const auto* u = std::get_if<ledger::RegisterUser>(&*txs[i].payload)) {
      std::lock_guard lock(users_mu_);
      active_users_.insert(u->user_key);
    } else if (const auto* d = std::get_if<ledger::DeactivateUser>(&*txs[i].payload)) {
      std::lock_guard lock(users_mu_);
      active_users_.erase(d->user_key);
    }
  }
  if (!widened.empty() || !own_records.empty()) {
    PostKeyShares(widened, own_records, time_ms, replayed);
  }
  if (!replayed) ShareDeferredKeys();
}

void Node::InBackground(std::function<void()> work, std::function<void()> then) {
  boost::asio::post(*blob_sync_pool_, [this, work = std::move(work), then = std::move(then)] {
    work();
    boost::asio::post(io_, then);
  });
}

void Node::TickApi() {
  const auto now = std::chrono::steady_clock::now();
  // Blobs no record references (uploads from before a restart, pulls whose record never
  // committed) get the same grace period as a fresh upload, then go.
  // The listing is taken off the io thread, the look-ups made a batch per tick (only while the
  // state is complete: a record in a block not replayed yet would look missing).
  const bool synced = RequireSynced().ok();
  if (now >= next_orphan_sweep_ && synced && !orphan_listing_ && orphan_candidates_.empty()) {
    next_orphan_sweep_ = now + kOrphanSweepInterval;
    orphan_listing_ = true;
    auto listed =
        std::make_shared<Result<std::vector<storage::ListedBlob>>>(Status::Internal("not listed"));
    InBackground([this, listed] { *listed = blobs_->List(); },
                 [this, listed] {
                   orphan_listing_ = false;
                   if (!*listed) {
                     log_->error("event=blob_list_failed reason=\"{}\"",
                                 listed->error().ToString());
                     return;
                   }
                   for (const auto& b : **listed) orphan_candidates_.push_back(b.digest);
                 });
  }
  if (synced && !orphan_candidates_.empty()) {
    ledger::StateView view(*stores_.state);
    for (std::size_t i = 0; i < kOrphanChecksPerTick && !orphan_candidates_.empty(); ++i) {
      const crypto::Digest d = orphan_candidates_.back();
      orphan_candidates_.pop_back();
      // (A gated record is in the mempool too.)
      if (unsubmitted_uploads_.count(d) || mempool_->NamesBlob(d)) continue;
      auto record = ledger::RecordByCiphertext(view, d);
      if (record && !*record) unsubmitted_uploads_[d] = now + kUploadTtl;
    }
  }
  for (auto& waiter : commit_waiters_.TakeExpired(now)) waiter.done(nullptr, 0, nullptr, nullptr);
  TickApiService();
  for (auto it = unsubmitted_uploads_.begin(); it != unsubmitted_uploads_.end();) {
    // A record waiting in the mempool (gated or not) keeps its blob, however long it waits (no
    // quorum for hours, say): deleted, the record would commit later with no copy anywhere.
    if (it->second > now || mempool_->NamesBlob(it->first)) {
      ++it;
      continue;
    }
    ledger::StateView view(*stores_.state);
    auto record = ledger::RecordByCiphertext(view, it->first);
    if (record && !*record) {
      log_->info("event=upload_discarded digest={} reason=\"never submitted\"",
                 it->first.ShortHex());
      (void)replicator_->Erase(it->first);
    }
    it = unsubmitted_uploads_.erase(it);
  }
}

}  // namespace ertr::node
