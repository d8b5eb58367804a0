// Records, key shares, access events and erasure (docs/spec/ledger.md, "Records").

#include "ledger/rules.h"

namespace ertr::ledger::rules {

namespace {

bool MaySubmit(Role role) {
  return role == Role::kPhysician || role == Role::kPhysicist || role == Role::kIntegrator;
}

AuditEntry RecordEntry(AuditKind kind, const TxContext& ctx, const RecordState& record) {
  AuditEntry e;
  e.kind = kind;
  e.actor = ctx.signer;
  e.patient = record.patient;
  e.record = record.id;
  return e;
}

}  // namespace

Verdict OnSubmitRecord(TxContext& ctx, const SubmitRecord& tx) {
  ERTR_ASSIGN_OR_RETURN(auto signer, LoadActiveSigner(ctx, "signer"));
  if (signer.rejection) return signer.rejection;
  const UserState& user = *signer.user;
  if (!MaySubmit(user.role)) {
    return Reject(RejectReason::kWrongRole, "signer",
                  "role '" + std::string(RoleName(user.role)) +
                      "' may not submit records; physicians, physicists and integrators may");
  }
  if (user.institution_id != tx.uploader_institution_id) {
    return Reject(RejectReason::kWrongInstitution, "submit_record.uploader_institution_id",
                  "the signer submits for '" + user.institution_id + "' only");
  }
  ERTR_ASSIGN_OR_RETURN(auto patient, ctx.state.Get(keys::Patient(tx.patient)));
  if (!patient) {
    return Reject(RejectReason::kUnknownPatient, "submit_record.patient_pseudonym",
                  "no patient has this pseudonym; register the patient first");
  }
  ERTR_ASSIGN_OR_RETURN(auto existing, ctx.state.Get(keys::Record(tx.record_id)));
  if (existing) {
    return Reject(RejectReason::kAlreadyExists, "submit_record.record_id",
                  "the record id is taken; make a new random one");
  }
  ERTR_ASSIGN_OR_RETURN(auto same_blob,
                        ctx.state.Get(keys::CiphertextRecord(tx.ciphertext_digest)));
  if (same_blob) {
    return Reject(RejectReason::kAlreadyExists, "submit_record.ciphertext_digest",
                  "another record has this ciphertext; encrypt each record with its own key");
  }
  for (std::size_t i = 0; i < tx.locator.holder_institutions.size(); ++i) {
    ERTR_ASSIGN_OR_RETURN(bool known, InstitutionExists(ctx, tx.locator.holder_institutions[i]));
    if (!known) {
      return Reject(RejectReason::kUnknownInstitution,
                    "submit_record.locator.holder_institutions[" + std::to_string(i) + "]",
                    "no such member institution");
    }
  }
  RecordState record;
  record.id = tx.record_id;
  record.patient = tx.patient;
  record.kind = tx.kind;
  record.ciphertext_digest = tx.ciphertext_digest;
  record.ciphertext_size = tx.ciphertext_size;
  record.holders = tx.locator.holder_institutions;
  record.uploader_user = user.key;
  record.uploader_institution_id = tx.uploader_institution_id;
  record.height = ctx.block.height.value();
  record.time_ms = ctx.block.time_ms;
  record.tx_id = ctx.tx_id;
  ERTR_ASSIGN_OR_RETURN(auto entitled, EntitledInstitutions(ctx.state, record, ctx.block.time_ms));
  for (std::size_t i = 0; i < tx.envelopes.size(); ++i) {
    const auto& env = tx.envelopes[i];
    const std::string field = "submit_record.envelopes[" + std::to_string(i) + "].institution_id";
    ERTR_ASSIGN_OR_RETURN(bool known, InstitutionExists(ctx, env.institution_id));
    if (!known)
      return Reject(RejectReason::kUnknownInstitution, field, "no such member institution");
    if (!entitled.count(env.institution_id)) {
      return Reject(RejectReason::kNotEntitled, field,
                    "the patient's consent does not admit '" + env.institution_id +
                        "' to this record; leave its envelope out");
    }
    ctx.state.Put(keys::Envelope(record.id, env.institution_id), env.sealed_key.ToBytes());
  }
  ctx.state.Save(keys::Record(record.id), record);
  ctx.state.Put(keys::PatientRecord(record.patient, record.id), {});
  ctx.state.Put(keys::CiphertextRecord(record.ciphertext_digest), record.id.ToBytes());
  AuditEntry entry = RecordEntry(AuditKind::kRecordSubmitted, ctx, record);
  entry.actor_institution = record.uploader_institution_id;
  entry.detail = std::string(RecordKindName(record.kind));
  ctx.Audit(std::move(entry));
  return Accept();
}

Verdict OnKeyShare(TxContext& ctx, const KeyShare& tx) {
  ERTR_ASSIGN_OR_RETURN(auto holder, SignerNodeInstitution(ctx));
  if (!holder) {
    return Reject(RejectReason::kUnknownSigner, "signer",
                  "key shares are posted by an institution's node, signed with its validator key");
  }
  ERTR_ASSIGN_OR_RETURN(auto record, ctx.state.Load<RecordState>(keys::Record(tx.record_id)));
  if (!record) return Reject(RejectReason::kUnknownRecord, "key_share.record_id", "no such record");
  if (record->erased) {
    return Reject(RejectReason::kErased, "key_share.record_id", "the record was erased");
  }
  // Only the uploading institution passes the key on (ADR 0039). Any other holder could put a
  // sealed key that does not open first, and the newcomer could then never get a real one.
  if (*holder != record->uploader_institution_id) {
    return Reject(RejectReason::kNoKeyAccess, "signer",
                  "only the node of the uploading institution '" + record->uploader_institution_id +
                      "' shares this record's key; '" + *holder + "' may not");
  }
  ERTR_ASSIGN_OR_RETURN(auto own, ctx.state.Get(keys::Envelope(record->id, *holder)));
  if (!own) {
    return Reject(
        RejectReason::kNoKeyAccess, "signer",
        "'" + *holder + "' holds no envelope for this record, so it cannot share its key");
  }
  const std::string& newcomer = tx.envelope.institution_id;
  ERTR_ASSIGN_OR_RETURN(bool known, InstitutionExists(ctx, newcomer));
  if (!known) {
    return Reject(RejectReason::kUnknownInstitution, "key_share.envelope.institution_id",
                  "no such member institution");
  }
  ERTR_ASSIGN_OR_RETURN(auto theirs, ctx.state.Get(keys::Envelope(record->id, newcomer)));
  if (theirs) {
    return Reject(RejectReason::kAlreadyExists, "key_share.envelope.institution_id",
                  "'" + newcomer + "' holds an envelope for this record already");
  }
  ERTR_ASSIGN_OR_RETURN(auto entitled, EntitledInstitutions(ctx.state, *record, ctx.block.time_ms));
  if (!entitled.count(newcomer)) {
    return Reject(RejectReason::kNotEntitled, "key_share.envelope.institution_id",
                  "no active consent of the patient admits '" + newcomer + "' to this record");
  }
  ctx.state.Put(keys::Envelope(record->id, newcomer), tx.envelope.sealed_key.ToBytes());
  AuditEntry entry = RecordEntry(AuditKind::kKeyShared, ctx, *record);
  entry.actor_institution = *holder;
  entry.detail = newcomer;
  ctx.Audit(std::move(entry));
  return Accept();
}

Verdict OnEraseRecord(TxContext& ctx, const EraseRecord& tx) {
  ERTR_ASSIGN_OR_RETURN(auto record, ctx.state.Load<RecordState>(keys::Record(tx.record_id)));
  if (!record)
    return Reject(RejectReason::kUnknownRecord, "erase_record.record_id", "no such record");
  ERTR_ASSIGN_OR_RETURN(auto patient, ctx.state.Load<PatientState>(keys::Patient(record->patient)));
  if (!patient) return Status::DataLoss("record " + record->id.ShortHex() + " has no patient");
  ERTR_ASSIGN_OR_RETURN(bool may, ActsForPatient(ctx, *patient));
  if (!may) {
    return Reject(RejectReason::kWrongRole, "signer",
                  "only the patient's key or an admin of the home institution may erase a record");
  }
  if (record->erased) {
    return Reject(RejectReason::kErased, "erase_record.record_id", "the record is erased already");
  }
  std::vector<Bytes> envelopes;
  ERTR_RETURN_IF_ERROR(ctx.state.ScanPrefix(keys::Envelopes(record->id), [&](ByteSpan k, ByteSpan) {
    envelopes.emplace_back(k.begin(), k.end());
    return true;
  }));
  for (auto& k : envelopes) ctx.state.Delete(std::move(k));
  record->erased = true;
  record->erased_height = ctx.block.height.value();
  ctx.state.Save(keys::Record(record->id), *record);
  AuditEntry entry = RecordEntry(AuditKind::kRecordErased, ctx, *record);
  entry.actor_institution = patient->home_institution_id;
  entry.detail = tx.reason_code;
  ctx.Audit(std::move(entry));
  return Accept();
}

Verdict OnRecordAccess(TxContext& ctx, const RecordAccess& tx) {
  ERTR_ASSIGN_OR_RETURN(auto node, SignerNodeInstitution(ctx));
  if (!node) {
    return Reject(RejectReason::kUnknownSigner, "signer",
                  "access events are posted by the serving institution's node (validator key)");
  }
  for (std::size_t i = 0; i < tx.events.size(); ++i) {
    const AccessEvent& ev = tx.events[i];
    const std::string f = "record_access.events[" + std::to_string(i) + "]";
    if (ev.institution_id != *node) {
      return Reject(RejectReason::kWrongInstitution, f + ".institution_id",
                    "a node records the reads it served for its own institution only");
    }
    ERTR_ASSIGN_OR_RETURN(auto user, ctx.state.Load<UserState>(keys::User(ev.user_key)));
    if (!user || user->institution_id != *node) {
      return Reject(RejectReason::kUnknownUser, f + ".user_key",
                    "the reader is not a user of '" + *node + "'");
    }
    ERTR_ASSIGN_OR_RETURN(auto record, ctx.state.Load<RecordState>(keys::Record(ev.record_id)));
    if (!record) return Reject(RejectReason::kUnknownRecord, f + ".record_id", "no such record");
    // The read happened at the node's view of the chain; the chain records it whatever it
    // decides now, and flags a claimed grant that its own policy would refuse at this block.
    ERTR_ASSIGN_OR_RETURN(auto decision,
                          EvaluateRead(ctx.state, *user, *record, ctx.block.time_ms));
    AuditEntry entry;
    entry.actor = ev.user_key;
    entry.actor_institution = ev.institution_id;
    entry.patient = record->patient;
    entry.record = record->id;
    entry.event_time_ms = ev.requested_at_ms;
    entry.detail = ev.purpose;
    switch (ev.outcome) {
      case AccessOutcome::kGranted:
        entry.kind = AuditKind::kAccessGranted;
        entry.flagged = !decision.allowed || decision.basis == AccessBasis::kBreakGlass;
        break;
      case AccessOutcome::kBreakGlass:
        entry.kind = AuditKind::kAccessBreakGlass;
        entry.flagged = true;
        break;
      default:
        entry.kind = AuditKind::kAccessDenied;
        entry.detail += "/" + ev.reason;
        break;
    }
    ctx.Audit(std::move(entry));
  }
  return Accept();
}

}  // namespace ertr::ledger::rules
