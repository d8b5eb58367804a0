#include "ledger/shape.h"

#include "ledger/policy.h"

#include <algorithm>
#include <set>
#include <string>

namespace ertr::ledger {

bool IsValidInstitutionId(std::string_view id) {
  if (id.empty() || id.size() > 32 || id.front() == '-') return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsValidCode(std::string_view code) {
  if (code.empty() || code.size() > 64) return false;
  return std::all_of(code.begin(), code.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == ':' || c == '-';
  });
}

namespace {

std::optional<Rejection> Bad(std::string field, std::string message) {
  return Rejection{RejectReason::kMalformed, std::move(field), std::move(message)};
}

std::optional<Rejection> CheckInstitutionId(std::string_view id, std::string field) {
  if (IsValidInstitutionId(id)) return std::nullopt;
  return Bad(std::move(field), "an institution id is 1..32 characters of a-z, 0-9 and '-'");
}

std::optional<Rejection> CheckCode(std::string_view code, std::string field) {
  if (IsValidCode(code)) return std::nullopt;
  return Bad(std::move(field),
             "a code is 1..64 characters of A-Z, a-z, 0-9, '.', '_', ':' and '-' (no free text: "
             "it must never carry patient data)");
}

bool IsValidRole(Role r) {
  return r != Role::kUnspecified && static_cast<std::uint8_t>(r) <= kMaxRole;
}
bool IsValidKind(RecordKind k) {
  return k != RecordKind::kUnspecified && static_cast<std::uint8_t>(k) <= kMaxRecordKind;
}

#define ERTR_SHAPE(expr)                 \
  do {                                   \
    if (auto bad_ = (expr)) return bad_; \
  } while (0)

std::optional<Rejection> Shape(const Genesis& g) {
  if (g.institutions.empty() || g.institutions.size() > kMaxInstitutions) {
    return Bad("genesis.institutions",
               "a chain has 1.." + std::to_string(kMaxInstitutions) + " institutions");
  }
  for (std::size_t i = 0; i < g.institutions.size(); ++i) {
    const auto& inst = g.institutions[i];
    const std::string f = "genesis.institutions[" + std::to_string(i) + "]";
    ERTR_SHAPE(CheckInstitutionId(inst.id, f + ".id"));
    if (inst.name.empty() || inst.name.size() > 128 ||
        !std::all_of(inst.name.begin(), inst.name.end(),
                     [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; })) {
      return Bad(f + ".name", "the display name is 1..128 printable characters");
    }
    if (inst.admin_keys.empty() || inst.admin_keys.size() > kMaxAdminKeys) {
      return Bad(f + ".admin_keys",
                 "each institution has 1.." + std::to_string(kMaxAdminKeys) + " admin keys");
    }
  }
  const auto& p = g.parameters;
  if (p.max_block_transactions == 0 || p.max_block_bytes < 1024 ||
      p.max_block_bytes > kMaxBlockBytesLimit || p.max_transaction_bytes < 1024 ||
      p.max_transaction_bytes > p.max_block_bytes || p.checkpoint_interval == 0 ||
      p.default_validity_window == 0) {
    return Bad("genesis.parameters",
               "parameters need max_block_transactions >= 1, 1024 <= max_block_bytes <= 12 MiB, "
               "1024 <= max_transaction_bytes <= max_block_bytes, checkpoint_interval >= 1 and "
               "default_validity_window >= 1");
  }
  return std::nullopt;
}

std::optional<Rejection> Shape(const RegisterUser& u) {
  ERTR_SHAPE(CheckInstitutionId(u.institution_id, "register_user.institution_id"));
  if (!IsValidRole(u.role)) return Bad("register_user.role", "set a role (physician .. admin)");
  return CheckCode(u.staff_handle, "register_user.staff_handle");
}

std::optional<Rejection> Shape(const DeactivateUser& d) {
  return CheckCode(d.reason_code, "deactivate_user.reason_code");
}

std::optional<Rejection> Shape(const RegisterPatient& p) {
  if (p.pseudonym.IsZero()) {
    return Bad("register_patient.pseudonym", "the pseudonym must be 16 random bytes, not zeros");
  }
  return CheckInstitutionId(p.home_institution_id, "register_patient.home_institution_id");
}

std::optional<Rejection> Shape(const SubmitRecord& r) {
  if (r.record_id.IsZero()) return Bad("submit_record.record_id", "use 16 random bytes");
  if (!IsValidKind(r.kind)) return Bad("submit_record.kind", "set the record kind");
  if (r.ciphertext_size == 0 || r.ciphertext_size > kMaxCiphertextSize) {
    return Bad("submit_record.ciphertext_size", "the ciphertext size must be 1 byte .. 1 TiB");
  }
  if (r.locator.content_digest != r.ciphertext_digest) {
    return Bad("submit_record.locator.content_digest",
               "the blob's content address must equal the ciphertext digest");
  }
  ERTR_SHAPE(
      CheckInstitutionId(r.uploader_institution_id, "submit_record.uploader_institution_id"));
  std::set<std::string> seen;
  if (r.locator.holder_institutions.empty() ||
      r.locator.holder_institutions.size() > kMaxInstitutions) {
    return Bad("submit_record.locator.holder_institutions", "name 1..64 holder institutions");
  }
  for (std::size_t i = 0; i < r.locator.holder_institutions.size(); ++i) {
    const auto& h = r.locator.holder_institutions[i];
    const std::string f = "submit_record.locator.holder_institutions[" + std::to_string(i) + "]";
    ERTR_SHAPE(CheckInstitutionId(h, f));
    if (!seen.insert(h).second) return Bad(f, "institution '" + h + "' is listed twice");
  }
  if (!seen.count(r.uploader_institution_id)) {
    return Bad("submit_record.locator.holder_institutions", "the uploader must hold the blob");
  }
  seen.clear();
  if (r.envelopes.empty() || r.envelopes.size() > kMaxEnvelopes) {
    return Bad("submit_record.envelopes", "give 1..64 key envelopes, the uploader's included");
  }
  for (std::size_t i = 0; i < r.envelopes.size(); ++i) {
    const auto& id = r.envelopes[i].institution_id;
    const std::string f = "submit_record.envelopes[" + std::to_string(i) + "].institution_id";
    ERTR_SHAPE(CheckInstitutionId(id, f));
    if (!seen.insert(id).second) return Bad(f, "institution '" + id + "' has two envelopes");
  }
  if (!seen.count(r.uploader_institution_id)) {
    return Bad("submit_record.envelopes", "the uploader's institution needs an envelope");
  }
  return std::nullopt;
}

std::optional<Rejection> Shape(const GrantConsent& g) {
  if (g.grant_id.IsZero()) return Bad("grant_consent.grant_id", "use 16 random bytes");
  if (const auto* i = std::get_if<GranteeInstitution>(&g.grantee)) {
    ERTR_SHAPE(CheckInstitutionId(i->institution_id, "grant_consent.grantee.institution_id"));
  } else if (const auto* r = std::get_if<GranteeRole>(&g.grantee)) {
    ERTR_SHAPE(CheckInstitutionId(r->institution_id,
                                  "grant_consent.grantee.institution_role.institution_id"));
    if (!IsValidRole(r->role) || !IsClinicalRole(r->role)) {
      return Bad("grant_consent.grantee.institution_role.role",
                 "name a role that reads records: physician, physicist, therapist or integrator");
    }
  }
  if (const auto* k = std::get_if<ScopeKinds>(&g.scope)) {
    if (k->kinds.empty() || k->kinds.size() > kMaxScopeKinds) {
      return Bad("grant_consent.scope.kinds", "list 1..16 record kinds");
    }
    for (std::size_t i = 0; i < k->kinds.size(); ++i) {
      if (!IsValidKind(k->kinds[i]) || (i > 0 && k->kinds[i - 1] >= k->kinds[i])) {
        return Bad("grant_consent.scope.kinds[" + std::to_string(i) + "]",
                   "kinds must be set, distinct and in ascending order");
      }
    }
  }
  return std::nullopt;
}

std::optional<Rejection> Shape(const RecordAccess& a) {
  if (a.events.empty() || a.events.size() > kMaxAccessEvents) {
    return Bad("record_access.events", "batch 1..256 access events");
  }
  for (std::size_t i = 0; i < a.events.size(); ++i) {
    const auto& e = a.events[i];
    const std::string f = "record_access.events[" + std::to_string(i) + "]";
    ERTR_SHAPE(CheckInstitutionId(e.institution_id, f + ".institution_id"));
    if (e.outcome == AccessOutcome::kUnspecified ||
        static_cast<std::uint8_t>(e.outcome) >
            static_cast<std::uint8_t>(AccessOutcome::kBreakGlass)) {
      return Bad(f + ".outcome", "set the outcome: granted, denied or break-glass");
    }
    ERTR_SHAPE(CheckCode(e.purpose, f + ".purpose"));
    if (e.requested_at_ms == 0) return Bad(f + ".requested_at_ms", "give the time of the read");
    if (e.outcome == AccessOutcome::kDenied) ERTR_SHAPE(CheckCode(e.reason, f + ".reason"));
    if (e.outcome != AccessOutcome::kDenied && !e.reason.empty()) {
      return Bad(f + ".reason", "only a denied read carries a reason");
    }
  }
  return std::nullopt;
}

std::optional<Rejection> Shape(const BreakGlass& b) {
  if (b.patient.IsZero()) return Bad("break_glass.patient_pseudonym", "name the patient");
  return CheckCode(b.reason_code, "break_glass.reason_code");
}

std::optional<Rejection> Shape(const EraseRecord& e) {
  return CheckCode(e.reason_code, "erase_record.reason_code");
}

std::optional<Rejection> Shape(const KeyShare& k) {
  return CheckInstitutionId(k.envelope.institution_id, "key_share.envelope.institution_id");
}

template <typename T>
std::optional<Rejection> Shape(const T&) {
  return std::nullopt;
}

#undef ERTR_SHAPE

}  // namespace

std::optional<Rejection> ValidateShape(const Payload& payload) {
  return std::visit([](const auto& p) { return Shape(p); }, payload);
}

}  // namespace ertr::ledger
