// Patient consent, break-glass and the envelopes they entitle (docs/spec/ledger.md, "Consent").

#include "ledger/rules.h"

namespace ertr::ledger::rules {

namespace {

std::string DescribeGrantee(const Grantee& g) {
  if (const auto* i = std::get_if<GranteeInstitution>(&g))
    return "institution:" + i->institution_id;
  if (const auto* r = std::get_if<GranteeRole>(&g)) {
    return "role:" + std::string(RoleName(r->role)) + "@" + r->institution_id;
  }
  return "user:" + std::get<GranteeUser>(g).user_key.ShortHex();
}

// The grantee must exist: a member institution, or a registered user.
Result<std::optional<Rejection>> CheckGrantee(const TxContext& ctx, const Grantee& g) {
  if (const auto* u = std::get_if<GranteeUser>(&g)) {
    ERTR_ASSIGN_OR_RETURN(auto user, ctx.state.Load<UserState>(keys::User(u->user_key)));
    if (!user) {
      return Reject(RejectReason::kUnknownUser, "grant_consent.grantee.user_key",
                    "no user has this key");
    }
    if (!user->active) {
      return Reject(RejectReason::kDeactivatedUser, "grant_consent.grantee.user_key",
                    "the user was deactivated");
    }
    if (!IsClinicalRole(user->role)) {
      return Reject(RejectReason::kWrongRole, "grant_consent.grantee.user_key",
                    "the user's role does not read records");
    }
    return std::optional<Rejection>();
  }
  const std::string& id = std::holds_alternative<GranteeInstitution>(g)
                              ? std::get<GranteeInstitution>(g).institution_id
                              : std::get<GranteeRole>(g).institution_id;
  ERTR_ASSIGN_OR_RETURN(auto inst, ctx.state.Get(keys::Institution(id)));
  if (!inst) {
    return Reject(RejectReason::kUnknownInstitution, "grant_consent.grantee",
                  "no institution '" + id + "' is a member of this chain");
  }
  return std::optional<Rejection>();
}

Result<std::optional<PatientState>> LoadPatient(const TxContext& ctx, const Pseudonym& p) {
  return ctx.state.Load<PatientState>(keys::Patient(p));
}

// The consent line of the patient's audit trail (and of the record's, for a one-record grant).
void AuditConsent(TxContext& ctx, AuditKind kind, const PatientState& patient, const GrantId& grant,
                  const Grantee& grantee, const ConsentScope& scope) {
  AuditEntry e;
  e.kind = kind;
  e.actor = ctx.signer;
  e.actor_institution = patient.home_institution_id;
  e.patient = patient.pseudonym;
  e.grant = grant;
  if (const auto* one = std::get_if<ScopeRecord>(&scope)) e.record = one->record_id;
  e.detail = DescribeGrantee(grantee);
  ctx.Audit(std::move(e));
}

Verdict NotForPatient() {
  return Reject(RejectReason::kWrongRole, "signer",
                "consent is given or revoked by the patient's key, or by an admin of the "
                "patient's home institution on the patient's recorded behalf");
}

}  // namespace

Status WithdrawUnentitledEnvelopes(TxContext& ctx, const Pseudonym& patient,
                                   const std::string& actor_institution) {
  std::vector<RecordId> records;
  const Bytes prefix = keys::PatientRecords(patient);
  ERTR_RETURN_IF_ERROR(ctx.state.ScanPrefix(prefix, [&](ByteSpan key, ByteSpan) {
    auto id = RecordId::FromSpan(key.subspan(prefix.size()), "record");
    if (id) records.push_back(*id);
    return true;
  }));
  for (const auto& id : records) {
    ERTR_ASSIGN_OR_RETURN(auto record, ctx.state.Load<RecordState>(keys::Record(id)));
    if (!record || record->erased) continue;
    ERTR_ASSIGN_OR_RETURN(auto entitled,
                          EntitledInstitutions(ctx.state, *record, ctx.block.time_ms));
    const Bytes env_prefix = keys::Envelopes(id);
    std::vector<std::string> withdrawn;
    ERTR_RETURN_IF_ERROR(ctx.state.ScanPrefix(env_prefix, [&](ByteSpan key, ByteSpan) {
      // Key: prefix || u8 len || institution id.
      std::string inst(AsStringView(key.subspan(env_prefix.size() + 1)));
      if (!entitled.count(inst)) withdrawn.push_back(std::move(inst));
      return true;
    }));
    for (const auto& inst : withdrawn) {
      ctx.state.Delete(keys::Envelope(id, inst));
      AuditEntry e;
      e.kind = AuditKind::kEnvelopeWithdrawn;
      e.actor = ctx.signer;
      e.actor_institution = actor_institution;
      e.patient = patient;
      e.record = id;
      e.detail = inst;
      ctx.Audit(std::move(e));
    }
  }
  return Status::Ok();
}

Verdict OnGrantConsent(TxContext& ctx, const GrantConsent& tx) {
  ERTR_ASSIGN_OR_RETURN(auto patient, LoadPatient(ctx, tx.patient));
  if (!patient) {
    return Reject(RejectReason::kUnknownPatient, "grant_consent.patient_pseudonym",
                  "no patient has this pseudonym");
  }
  ERTR_ASSIGN_OR_RETURN(bool may, ActsForPatient(ctx, *patient));
  if (!may) return NotForPatient();
  ERTR_ASSIGN_OR_RETURN(auto taken, ctx.state.Get(keys::GrantIndex(tx.grant_id)));
  if (taken) {
    return Reject(RejectReason::kAlreadyExists, "grant_consent.grant_id",
                  "the grant id is taken; make a new random one");
  }
  ERTR_ASSIGN_OR_RETURN(auto bad_grantee, CheckGrantee(ctx, tx.grantee));
  if (bad_grantee) return bad_grantee;
  if (const auto* one = std::get_if<ScopeRecord>(&tx.scope)) {
    ERTR_ASSIGN_OR_RETURN(auto record, ctx.state.Load<RecordState>(keys::Record(one->record_id)));
    if (!record || record->patient != tx.patient) {
      return Reject(RejectReason::kUnknownRecord, "grant_consent.scope.record_id",
                    "the patient has no record with this id");
    }
  }
  if (tx.expires_at_ms != 0 && tx.expires_at_ms <= ctx.block.time_ms) {
    return Reject(RejectReason::kBadTime, "grant_consent.expires_at_ms",
                  "the expiry is not after the block time; give a later time or 0 for none");
  }
  GrantState grant;
  grant.id = tx.grant_id;
  grant.patient = tx.patient;
  grant.grantee = tx.grantee;
  grant.scope = tx.scope;
  grant.expires_at_ms = tx.expires_at_ms;
  grant.granted_by = ctx.signer;
  grant.granted_height = ctx.block.height.value();
  grant.granted_time_ms = ctx.block.time_ms;
  ctx.state.Save(keys::Grant(tx.patient, tx.grant_id), grant);
  ctx.state.Put(keys::GrantIndex(tx.grant_id), tx.patient.ToBytes());
  if (tx.expires_at_ms != 0) ctx.state.Put(keys::Expiry(tx.expires_at_ms, tx.patient), {});
  if (const auto* u = std::get_if<GranteeUser>(&tx.grantee)) {
    ctx.state.Put(keys::UserPatient(u->user_key, tx.patient), {});
  }
  AuditConsent(ctx, AuditKind::kConsentGranted, *patient, tx.grant_id, tx.grantee, tx.scope);
  return Accept();
}

Verdict OnRevokeConsent(TxContext& ctx, const RevokeConsent& tx) {
  ERTR_ASSIGN_OR_RETURN(auto grant,
                        ctx.state.Load<GrantState>(keys::Grant(tx.patient, tx.grant_id)));
  if (!grant) {
    return Reject(RejectReason::kUnknownGrant, "revoke_consent.grant_id",
                  "the patient has no grant with this id");
  }
  ERTR_ASSIGN_OR_RETURN(auto patient, LoadPatient(ctx, tx.patient));
  if (!patient) return Status::DataLoss("grant " + tx.grant_id.ShortHex() + " has no patient");
  ERTR_ASSIGN_OR_RETURN(bool may, ActsForPatient(ctx, *patient));
  if (!may) return NotForPatient();
  if (grant->revoked) {
    return Reject(RejectReason::kRevokedGrant, "revoke_consent.grant_id",
                  "the grant was revoked already");
  }
  grant->revoked = true;
  grant->revoked_height = ctx.block.height.value();
  ctx.state.Save(keys::Grant(tx.patient, tx.grant_id), *grant);
  AuditConsent(ctx, AuditKind::kConsentRevoked, *patient, tx.grant_id, grant->grantee,
               grant->scope);
  ERTR_RETURN_IF_ERROR(WithdrawUnentitledEnvelopes(ctx, tx.patient, patient->home_institution_id));
  return Accept();
}

Verdict OnBreakGlass(TxContext& ctx, const BreakGlass& tx) {
  ERTR_ASSIGN_OR_RETURN(auto signer, LoadActiveSigner(ctx, "signer"));
  if (signer.rejection) return signer.rejection;
  if (signer.user->role != Role::kPhysician) {
    return Reject(RejectReason::kWrongRole, "signer",
                  "only an active physician may break the glass");
  }
  ERTR_ASSIGN_OR_RETURN(auto patient, LoadPatient(ctx, tx.patient));
  if (!patient) {
    return Reject(RejectReason::kUnknownPatient, "break_glass.patient_pseudonym",
                  "no patient has this pseudonym");
  }
  if (tx.duration_ms < kMinBreakGlassMs || tx.duration_ms > kMaxBreakGlassMs) {
    return Reject(RejectReason::kBadTime, "break_glass.duration_ms",
                  "emergency access lasts 1 minute .. 24 hours");
  }
  BreakGlassState glass{tx.patient,     signer.user->key,  signer.user->institution_id,
                        tx.reason_code, ctx.block.time_ms, ctx.block.time_ms + tx.duration_ms};
  ctx.state.Save(keys::BreakGlass(tx.patient, glass.user_key), glass);
  ctx.state.Put(keys::Expiry(glass.expires_at_ms, tx.patient), {});
  ctx.state.Put(keys::UserPatient(glass.user_key, tx.patient), {});
  AuditEntry e;
  e.kind = AuditKind::kBreakGlassOpened;
  e.actor = ctx.signer;
  e.actor_institution = glass.institution_id;
  e.patient = tx.patient;
  e.detail = tx.reason_code;
  e.flagged = true;
  ctx.Audit(std::move(e));
  return Accept();
}

}  // namespace ertr::ledger::rules
