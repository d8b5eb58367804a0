// Users and patients (docs/spec/ledger.md, "Membership").

#include "ledger/rules.h"

namespace ertr::ledger::rules {

namespace {

// The signer must be an active user of `institution_id` holding one of `roles`.
Result<std::optional<Rejection>> RequireStaffOf(const TxContext& ctx,
                                                std::string_view institution_id,
                                                std::initializer_list<Role> roles,
                                                std::string_view what) {
  ERTR_ASSIGN_OR_RETURN(auto signer, LoadActiveSigner(ctx, "signer"));
  if (signer.rejection) return signer.rejection;
  if (signer.user->institution_id != institution_id) {
    return Reject(RejectReason::kWrongInstitution, "signer",
                  "the signer belongs to '" + signer.user->institution_id + "', not '" +
                      std::string(institution_id) + "'");
  }
  for (Role r : roles) {
    if (signer.user->role == r) return std::optional<Rejection>();
  }
  return Reject(
      RejectReason::kWrongRole, "signer",
      "role '" + std::string(RoleName(signer.user->role)) + "' may not " + std::string(what));
}

Verdict UnknownInstitution(std::string field, std::string_view id) {
  return Reject(RejectReason::kUnknownInstitution, std::move(field),
                "no institution '" + std::string(id) + "' is a member of this chain");
}

}  // namespace

Verdict OnRegisterUser(TxContext& ctx, const RegisterUser& tx) {
  ERTR_ASSIGN_OR_RETURN(bool known, InstitutionExists(ctx, tx.institution_id));
  if (!known) return UnknownInstitution("register_user.institution_id", tx.institution_id);
  ERTR_ASSIGN_OR_RETURN(auto denied,
                        RequireStaffOf(ctx, tx.institution_id, {Role::kAdmin}, "register users"));
  if (denied) return denied;
  ERTR_ASSIGN_OR_RETURN(auto existing, ctx.state.Get(keys::User(tx.user_key)));
  ERTR_ASSIGN_OR_RETURN(auto node, ctx.state.Get(keys::ValidatorKey(tx.user_key)));
  ERTR_ASSIGN_OR_RETURN(auto patient, ctx.state.Get(keys::PatientKey(tx.user_key)));
  if (existing || node || patient) {
    const char* as = existing ? "a user's" : node ? "a validator node's" : "a patient's";
    return Reject(RejectReason::kAlreadyExists, "register_user.user_key",
                  std::string("this key is registered already, as ") + as +
                      "; every user needs a key of their own (ertrctl keys gen)");
  }
  UserState user;
  user.key = tx.user_key;
  user.institution_id = tx.institution_id;
  user.role = tx.role;
  user.staff_handle = tx.staff_handle;
  user.registered_height = ctx.block.height.value();
  ctx.state.Save(keys::User(user.key), user);
  ctx.state.Put(keys::InstitutionUser(user.institution_id, user.key), {});
  return Accept();
}

Verdict OnDeactivateUser(TxContext& ctx, const DeactivateUser& tx) {
  ERTR_ASSIGN_OR_RETURN(auto user, ctx.state.Load<UserState>(keys::User(tx.user_key)));
  if (!user) {
    return Reject(RejectReason::kUnknownUser, "deactivate_user.user_key", "no user has this key");
  }
  ERTR_ASSIGN_OR_RETURN(
      auto denied, RequireStaffOf(ctx, user->institution_id, {Role::kAdmin}, "deactivate users"));
  if (denied) return denied;
  if (!user->active) {
    return Reject(RejectReason::kDeactivatedUser, "deactivate_user.user_key",
                  "the user is deactivated already");
  }
  if (user->role == Role::kAdmin) {
    int active_admins = 0;
    // The index holds empty values; admins are counted from the user records.
    Status read;
    ERTR_RETURN_IF_ERROR(ctx.state.ScanPrefix(
        keys::InstitutionUsers(user->institution_id), [&](ByteSpan key, ByteSpan) {
          auto member_key = crypto::PublicKey::FromSpan(
              key.subspan(key.size() - crypto::PublicKey::kSize), "member");
          auto member = ctx.state.Load<UserState>(keys::User(*member_key));
          if (!member) {
            read = member.error();
            return false;
          }
          if (*member && (*member)->active && (*member)->role == Role::kAdmin) ++active_admins;
          return true;
        }));
    ERTR_RETURN_IF_ERROR(read);
    if (active_admins <= 1) {
      return Reject(RejectReason::kLastAdmin, "deactivate_user.user_key",
                    "this is the institution's last active admin; register another admin first");
    }
  }
  user->active = false;
  user->deactivated_height = ctx.block.height.value();
  ctx.state.Save(keys::User(user->key), *user);
  // Grants naming this user and its break-glass sessions entitle nobody any more.
  std::vector<Pseudonym> patients;
  const Bytes prefix = keys::UserPatients(user->key);
  ERTR_RETURN_IF_ERROR(ctx.state.ScanPrefix(prefix, [&](ByteSpan key, ByteSpan) {
    auto p = Pseudonym::FromSpan(key.subspan(prefix.size()), "patient");
    if (p) patients.push_back(*p);
    return true;
  }));
  for (const auto& p : patients) {
    ERTR_RETURN_IF_ERROR(WithdrawUnentitledEnvelopes(ctx, p, user->institution_id));
  }
  return Accept();
}

Verdict OnRegisterPatient(TxContext& ctx, const RegisterPatient& tx) {
  ERTR_ASSIGN_OR_RETURN(bool known, InstitutionExists(ctx, tx.home_institution_id));
  if (!known) {
    return UnknownInstitution("register_patient.home_institution_id", tx.home_institution_id);
  }
  ERTR_ASSIGN_OR_RETURN(
      auto denied, RequireStaffOf(ctx, tx.home_institution_id, {Role::kAdmin, Role::kIntegrator},
                                  "register patients"));
  if (denied) return denied;
  ERTR_ASSIGN_OR_RETURN(auto existing, ctx.state.Get(keys::Patient(tx.pseudonym)));
  if (existing) {
    return Reject(RejectReason::kAlreadyExists, "register_patient.pseudonym",
                  "the pseudonym is taken; make a new random one");
  }
  if (tx.patient_key) {
    // The patient key grants consent: only an admin may bind one, and it must be nobody else's.
    ERTR_ASSIGN_OR_RETURN(auto denied_key, RequireStaffOf(ctx, tx.home_institution_id,
                                                          {Role::kAdmin}, "set a patient key"));
    if (denied_key) return denied_key;
    ERTR_ASSIGN_OR_RETURN(auto user, ctx.state.Get(keys::User(*tx.patient_key)));
    ERTR_ASSIGN_OR_RETURN(auto node, ctx.state.Get(keys::ValidatorKey(*tx.patient_key)));
    ERTR_ASSIGN_OR_RETURN(auto other, ctx.state.Get(keys::PatientKey(*tx.patient_key)));
    if (user || node || other) {
      return Reject(RejectReason::kAlreadyExists, "register_patient.patient_key",
                    "this key belongs to someone else; the patient needs a key of their own");
    }
    ctx.state.Put(keys::PatientKey(*tx.patient_key), tx.pseudonym.ToBytes());
  }
  PatientState patient{tx.pseudonym, tx.home_institution_id, tx.patient_key,
                       ctx.block.height.value()};
  ctx.state.Save(keys::Patient(tx.pseudonym), patient);
  AuditEntry entry;
  entry.kind = AuditKind::kPatientRegistered;
  entry.actor = ctx.signer;
  entry.actor_institution = tx.home_institution_id;
  entry.patient = tx.pseudonym;
  ctx.Audit(std::move(entry));
  return Accept();
}

}  // namespace ertr::ledger::rules
