#include "ledger/state.h"

#include <map>

namespace ertr::ledger {

std::string_view AuditKindName(AuditKind kind) {
  switch (kind) {
    case AuditKind::kPatientRegistered:
      return "patient_registered";
    case AuditKind::kRecordSubmitted:
      return "record_submitted";
    case AuditKind::kConsentGranted:
      return "consent_granted";
    case AuditKind::kConsentRevoked:
      return "consent_revoked";
    case AuditKind::kKeyShared:
      return "key_shared";
    case AuditKind::kAccessGranted:
      return "access_granted";
    case AuditKind::kAccessDenied:
      return "access_denied";
    case AuditKind::kAccessBreakGlass:
      return "access_break_glass";
    case AuditKind::kBreakGlassOpened:
      return "break_glass_opened";
    case AuditKind::kRecordErased:
      return "record_erased";
    case AuditKind::kEnvelopeWithdrawn:
      return "envelope_withdrawn";
  }
  return "unknown";
}

namespace keys {
namespace {

Bytes Prefix(std::string_view p) { return ToBytes(p); }
void PutName(Bytes& k, std::string_view s) {
  PutU8(k, static_cast<std::uint8_t>(s.size()));
  Append(k, AsBytes(s));
}
template <typename... Parts>
Bytes Make(std::string_view prefix, const Parts&... parts) {
  Bytes k = Prefix(prefix);
  (Append(k, parts.span()), ...);
  return k;
}

}  // namespace

Bytes Chain() { return Prefix("c/chain"); }
Bytes BlockTime() { return Prefix("c/time"); }
Bytes Institution(std::string_view id) {
  Bytes k = Prefix("i/");
  PutName(k, id);
  return k;
}
Bytes ValidatorKey(const crypto::PublicKey& key) { return Make("v/", key); }
Bytes User(const crypto::PublicKey& key) { return Make("u/", key); }
Bytes Users() { return Prefix("u/"); }
Bytes InstitutionUsers(std::string_view institution_id) {
  Bytes k = Prefix("iu/");
  PutName(k, institution_id);
  return k;
}
Bytes InstitutionUser(std::string_view institution_id, const crypto::PublicKey& key) {
  Bytes k = InstitutionUsers(institution_id);
  Append(k, key.span());
  return k;
}
Bytes Patient(const Pseudonym& p) { return Make("p/", p); }
Bytes Record(const RecordId& r) { return Make("r/", r); }
Bytes Records() { return Prefix("r/"); }
Bytes PatientRecords(const Pseudonym& p) { return Make("pr/", p); }
Bytes PatientRecord(const Pseudonym& p, const RecordId& r) { return Make("pr/", p, r); }
Bytes Envelopes(const RecordId& r) { return Make("e/", r); }
Bytes Envelope(const RecordId& r, std::string_view institution_id) {
  Bytes k = Envelopes(r);
  PutName(k, institution_id);
  return k;
}
Bytes GrantIndex(const GrantId& g) { return Make("gi/", g); }
Bytes PatientGrants(const Pseudonym& p) { return Make("g/", p); }
Bytes Grant(const Pseudonym& p, const GrantId& g) { return Make("g/", p, g); }
Bytes BreakGlasses(const Pseudonym& p) { return Make("b/", p); }
Bytes BreakGlass(const Pseudonym& p, const crypto::PublicKey& user) { return Make("b/", p, user); }
Bytes ExpiriesUpTo() { return Prefix("x/"); }
Bytes Expiry(std::uint64_t time_ms, const Pseudonym& p) {
  Bytes k = Prefix("x/");
  PutU64Be(k, time_ms);
  Append(k, p.span());
  return k;
}
Bytes Nonce(const crypto::PublicKey& signer, std::uint64_t nonce) {
  Bytes k = Make("n/", signer);
  PutU64Be(k, nonce);
  return k;
}
Bytes Outcome(const crypto::Digest& tx_id) { return Make("o/", tx_id); }
Bytes PatientKey(const crypto::PublicKey& key) { return Make("pk/", key); }
Bytes CiphertextRecord(const crypto::Digest& ciphertext) { return Make("cd/", ciphertext); }
Bytes UserPatients(const crypto::PublicKey& user) { return Make("up/", user); }
Bytes UserPatient(const crypto::PublicKey& user, const Pseudonym& p) {
  return Make("up/", user, p);
}
Bytes PatientAudit(const Pseudonym& p) { return Make("ap/", p); }
Bytes RecordAudit(const RecordId& r) { return Make("ar/", r); }
Bytes AuditPosition(std::uint64_t height, std::uint32_t tx_index, std::uint32_t entry) {
  Bytes k;
  PutU64Be(k, height);
  PutU64Be(k, (static_cast<std::uint64_t>(tx_index) << 32) | entry);
  return k;
}

}  // namespace keys

Result<std::optional<Bytes>> CachingStateReader::Get(ByteSpan key) const {
  const std::string_view sv = AsStringView(key);
  const absl::string_view k(sv.data(), sv.size());  // absl's own type in Debian's build
  if (auto it = read_.find(k); it != read_.end()) return it->second;
  ++base_reads_;
  ERTR_ASSIGN_OR_RETURN(auto value, base_.Get(key));
  if (read_.size() < kMaxEntries) read_.emplace(k, value);
  return value;
}

Result<std::optional<Bytes>> StateView::Get(ByteSpan key) const {
  auto it = delta_.writes.find(Bytes(key.begin(), key.end()));
  if (it != delta_.writes.end()) return it->second;
  return base_.Get(key);
}

Status StateView::ScanPrefix(ByteSpan prefix,
                             const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const {
  // Merge the committed entries with the pending writes under the prefix; pending writes win.
  std::map<Bytes, Bytes> merged;
  ERTR_RETURN_IF_ERROR(base_.ScanPrefix(prefix, [&](ByteSpan key, ByteSpan value) {
    merged.emplace(Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end()));
    return true;
  }));
  Bytes start(prefix.begin(), prefix.end());
  for (auto it = delta_.writes.lower_bound(start); it != delta_.writes.end(); ++it) {
    const Bytes& key = it->first;
    if (key.size() < prefix.size() || !std::equal(prefix.begin(), prefix.end(), key.begin())) {
      break;
    }
    if (it->second) {
      merged[key] = *it->second;
    } else {
      merged.erase(key);
    }
  }
  for (const auto& [key, value] : merged) {
    if (!fn(key, value)) break;
  }
  return Status::Ok();
}

}  // namespace ertr::ledger
