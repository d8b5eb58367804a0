#include "ledger/policy.h"

#include <algorithm>

namespace ertr::ledger {

std::string_view AccessBasisName(AccessBasis basis) {
  switch (basis) {
    case AccessBasis::kNone:
      return "none";
    case AccessBasis::kCareTeam:
      return "care_team";
    case AccessBasis::kGrant:
      return "grant";
    case AccessBasis::kBreakGlass:
      return "break_glass";
  }
  return "unknown";
}

bool IsClinicalRole(Role role) {
  return role == Role::kPhysician || role == Role::kPhysicist || role == Role::kTherapist ||
         role == Role::kIntegrator;
}

bool IsGrantActive(const GrantState& grant, std::uint64_t time_ms) {
  return !grant.revoked && (grant.expires_at_ms == 0 || time_ms < grant.expires_at_ms);
}

bool GrantCovers(const GrantState& grant, const RecordState& record) {
  if (grant.patient != record.patient) return false;
  struct Visitor {
    const RecordState& record;
    bool operator()(const ScopeAll&) const { return true; }
    bool operator()(const ScopeKinds& s) const {
      return std::find(s.kinds.begin(), s.kinds.end(), record.kind) != s.kinds.end();
    }
    bool operator()(const ScopeRecord& s) const { return s.record_id == record.id; }
  };
  return std::visit(Visitor{record}, grant.scope);
}

namespace {

bool GranteeIncludes(const Grantee& grantee, const UserState& user) {
  if (const auto* i = std::get_if<GranteeInstitution>(&grantee)) {
    return i->institution_id == user.institution_id;
  }
  if (const auto* r = std::get_if<GranteeRole>(&grantee)) {
    return r->institution_id == user.institution_id && r->role == user.role;
  }
  return std::get<GranteeUser>(grantee).user_key == user.key;
}

// The institution a grantee entitles: the named institution, or an active user's institution.
Result<std::optional<std::string>> GranteeInstitutionOf(const StateView& state,
                                                        const Grantee& grantee) {
  if (const auto* i = std::get_if<GranteeInstitution>(&grantee)) return {i->institution_id};
  if (const auto* r = std::get_if<GranteeRole>(&grantee)) return {r->institution_id};
  ERTR_ASSIGN_OR_RETURN(auto user,
                        state.Load<UserState>(keys::User(std::get<GranteeUser>(grantee).user_key)));
  if (!user || !user->active) return std::optional<std::string>();
  return std::optional<std::string>(user->institution_id);
}

ReadDecision Deny(RejectReason reason, std::string field, std::string message) {
  ReadDecision d;
  d.denial = Rejection{reason, std::move(field), std::move(message)};
  return d;
}

}  // namespace

Result<ReadDecision> EvaluateRead(const StateView& state, const crypto::PublicKey& user_key,
                                  const RecordId& record_id, std::uint64_t time_ms) {
  ERTR_ASSIGN_OR_RETURN(auto user, state.Load<UserState>(keys::User(user_key)));
  if (!user) {
    return Deny(RejectReason::kUnknownUser, "user",
                "the reader is not a registered user; ask the institution's admin to register it");
  }
  ERTR_ASSIGN_OR_RETURN(auto record, state.Load<RecordState>(keys::Record(record_id)));
  if (!record) {
    return Deny(RejectReason::kUnknownRecord, "record_id", "no record with this id is on chain");
  }
  return EvaluateRead(state, *user, *record, time_ms);
}

Result<ReadDecision> EvaluateRead(const StateView& state, const UserState& user,
                                  const RecordState& record, std::uint64_t time_ms) {
  if (!user.active) {
    return Deny(RejectReason::kDeactivatedUser, "user", "the reader's account was deactivated");
  }
  if (!IsClinicalRole(user.role)) {
    return Deny(RejectReason::kWrongRole, "user",
                "role '" + std::string(RoleName(user.role)) +
                    "' may not read record contents; clinical roles and integrators may");
  }
  if (record.erased) {
    return Deny(RejectReason::kErased, "record_id",
                "the record was erased at the patient's request");
  }
  ReadDecision allowed;
  allowed.allowed = true;
  if (user.institution_id == record.uploader_institution_id) {
    allowed.basis = AccessBasis::kCareTeam;
    return allowed;
  }
  ERTR_ASSIGN_OR_RETURN(auto grants,
                        state.LoadAll<GrantState>(keys::PatientGrants(record.patient)));
  bool saw_expired = false;
  bool saw_revoked = false;
  for (const auto& g : grants) {
    if (!GranteeIncludes(g.grantee, user) || !GrantCovers(g, record)) continue;
    if (IsGrantActive(g, time_ms)) {
      allowed.basis = AccessBasis::kGrant;
      allowed.grant = g.id;
      return allowed;
    }
    saw_revoked |= g.revoked;
    saw_expired |= g.expires_at_ms != 0 && time_ms >= g.expires_at_ms;
  }
  ERTR_ASSIGN_OR_RETURN(auto glass,
                        state.Load<BreakGlassState>(keys::BreakGlass(record.patient, user.key)));
  if (glass && time_ms < glass->expires_at_ms) {
    allowed.basis = AccessBasis::kBreakGlass;
    return allowed;
  }
  if (saw_expired) {
    return Deny(RejectReason::kExpiredGrant, "grant",
                "the patient's grant covering this reader has expired; ask for a new grant");
  }
  if (saw_revoked) {
    return Deny(RejectReason::kRevokedGrant, "grant",
                "the patient revoked the grant covering this reader");
  }
  return Deny(RejectReason::kNoConsent, "grant",
              "no active consent of the patient covers this reader and record; the patient (or "
              "the home institution on the patient's behalf) must grant access");
}

Result<std::set<std::string>> EntitledInstitutions(const StateView& state,
                                                   const RecordState& record,
                                                   std::uint64_t time_ms) {
  std::set<std::string> out;
  if (record.erased) return out;
  out.insert(record.uploader_institution_id);
  ERTR_ASSIGN_OR_RETURN(auto grants,
                        state.LoadAll<GrantState>(keys::PatientGrants(record.patient)));
  for (const auto& g : grants) {
    if (!IsGrantActive(g, time_ms) || !GrantCovers(g, record)) continue;
    ERTR_ASSIGN_OR_RETURN(auto inst, GranteeInstitutionOf(state, g.grantee));
    if (inst) out.insert(*inst);
  }
  ERTR_ASSIGN_OR_RETURN(auto glasses,
                        state.LoadAll<BreakGlassState>(keys::BreakGlasses(record.patient)));
  for (const auto& b : glasses) {
    if (time_ms >= b.expires_at_ms) continue;
    ERTR_ASSIGN_OR_RETURN(auto user, state.Load<UserState>(keys::User(b.user_key)));
    if (user && user->active) out.insert(b.institution_id);
  }
  return out;
}

}  // namespace ertr::ledger
