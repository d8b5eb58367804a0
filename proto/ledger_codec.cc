#include "proto/ledger_codec.h"

#include <fstream>
#include <string>

#include "ertr/v1/transaction.pb.h"
#include "proto/api_codec.h"
#include "proto/codec.h"
#include "proto/wire_helpers.h"

namespace ertr::proto {

using namespace wire;
namespace v1 = ertr::v1;
namespace l = ertr::ledger;

namespace {

std::string Idx(std::string_view field, int i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

template <typename E>
Result<E> Enum(int value, int max, std::string_view field) {
  if (value <= 0 || value > max) {
    return Status::InvalidArgument("field '" + std::string(field) + "' has value " +
                                   std::to_string(value) + "; use 1.." + std::to_string(max));
  }
  return static_cast<E>(value);
}

Result<l::Institution> FromWire(const v1::Institution& m, const std::string& f) {
  l::Institution out;
  out.id = m.id();
  out.name = m.name();
  ERTR_ASSIGN_OR_RETURN(out.validator_key,
                        Fixed<crypto::PublicKey>(m.validator_key(), f + ".validator_key"));
  ERTR_ASSIGN_OR_RETURN(out.encryption_key,
                        Fixed<crypto::BoxPublicKey>(m.encryption_key(), f + ".encryption_key"));
  if (m.admin_keys_size() > static_cast<int>(64)) {
    return Status::InvalidArgument("field '" + f + ".admin_keys' has too many keys");
  }
  for (int i = 0; i < m.admin_keys_size(); ++i) {
    ERTR_ASSIGN_OR_RETURN(auto k,
                          Fixed<crypto::PublicKey>(m.admin_keys(i), Idx(f + ".admin_keys", i)));
    out.admin_keys.push_back(k);
  }
  return out;
}

Result<l::Genesis> FromWire(const v1::Genesis& m) {
  l::Genesis g;
  g.chain_id = m.chain_id();
  g.genesis_time_ms = m.genesis_time_ms();
  if (m.institutions_size() > 256) {
    return Status::InvalidArgument("field 'genesis.institutions' has too many entries");
  }
  for (int i = 0; i < m.institutions_size(); ++i) {
    ERTR_ASSIGN_OR_RETURN(auto inst, FromWire(m.institutions(i), Idx("genesis.institutions", i)));
    g.institutions.push_back(std::move(inst));
  }
  const auto& p = m.parameters();
  g.parameters = l::ChainParameters{p.max_block_transactions(),  p.max_block_bytes(),
                                    p.max_transaction_bytes(),   p.checkpoint_interval(),
                                    p.default_validity_window(), p.benchmark_mode(),
                                    p.block_time_in_state()};
  return g;
}

Result<l::KeyEnvelope> FromWire(const v1::KeyEnvelope& m, const std::string& f) {
  l::KeyEnvelope e;
  e.institution_id = m.institution_id();
  ERTR_ASSIGN_OR_RETURN(e.sealed_key, Fixed<l::SealedKey>(m.sealed_key(), f + ".sealed_key"));
  return e;
}

Result<l::SubmitRecord> FromWire(const v1::SubmitRecord& m) {
  l::SubmitRecord r;
  ERTR_ASSIGN_OR_RETURN(r.record_id, Fixed<l::RecordId>(m.record_id(), "submit_record.record_id"));
  ERTR_ASSIGN_OR_RETURN(
      r.patient, Fixed<l::Pseudonym>(m.patient_pseudonym(), "submit_record.patient_pseudonym"));
  ERTR_ASSIGN_OR_RETURN(r.kind,
                        Enum<l::RecordKind>(m.kind(), l::kMaxRecordKind, "submit_record.kind"));
  ERTR_ASSIGN_OR_RETURN(
      r.ciphertext_digest,
      Fixed<crypto::Digest>(m.ciphertext_digest(), "submit_record.ciphertext_digest"));
  r.ciphertext_size = m.ciphertext_size();
  ERTR_ASSIGN_OR_RETURN(
      r.locator.content_digest,
      Fixed<crypto::Digest>(m.locator().content_digest(), "submit_record.locator.content_digest"));
  if (m.locator().holder_institutions_size() > 256 || m.envelopes_size() > 256) {
    return Status::InvalidArgument("submit_record lists too many holders or envelopes");
  }
  for (const auto& h : m.locator().holder_institutions())
    r.locator.holder_institutions.push_back(h);
  r.uploader_institution_id = m.uploader_institution_id();
  for (int i = 0; i < m.envelopes_size(); ++i) {
    ERTR_ASSIGN_OR_RETURN(auto e, FromWire(m.envelopes(i), Idx("submit_record.envelopes", i)));
    r.envelopes.push_back(std::move(e));
  }
  return r;
}

Result<l::Grantee> FromWire(const v1::Grantee& m) {
  switch (m.who_case()) {
    case v1::Grantee::kInstitutionId:
      return l::Grantee(l::GranteeInstitution{m.institution_id()});
    case v1::Grantee::kInstitutionRole: {
      ERTR_ASSIGN_OR_RETURN(auto role,
                            Enum<l::Role>(m.institution_role().role(), l::kMaxRole,
                                          "grant_consent.grantee.institution_role.role"));
      return l::Grantee(l::GranteeRole{m.institution_role().institution_id(), role});
    }
    case v1::Grantee::kUserKey: {
      ERTR_ASSIGN_OR_RETURN(
          auto key, Fixed<crypto::PublicKey>(m.user_key(), "grant_consent.grantee.user_key"));
      return l::Grantee(l::GranteeUser{key});
    }
    default:
      return Status::InvalidArgument(
          "field 'grant_consent.grantee' is empty; name an institution, a role or a user");
  }
}

Result<l::ConsentScope> FromWire(const v1::ConsentScope& m) {
  switch (m.what_case()) {
    case v1::ConsentScope::kAllRecords:
      if (!m.all_records()) break;
      return l::ConsentScope(l::ScopeAll{});
    case v1::ConsentScope::kKinds: {
      l::ScopeKinds k;
      if (m.kinds().kinds_size() > 64) break;
      for (int i = 0; i < m.kinds().kinds_size(); ++i) {
        ERTR_ASSIGN_OR_RETURN(auto kind, Enum<l::RecordKind>(m.kinds().kinds(i), l::kMaxRecordKind,
                                                             Idx("grant_consent.scope.kinds", i)));
        k.kinds.push_back(kind);
      }
      return l::ConsentScope(std::move(k));
    }
    case v1::ConsentScope::kRecordId: {
      ERTR_ASSIGN_OR_RETURN(auto id,
                            Fixed<l::RecordId>(m.record_id(), "grant_consent.scope.record_id"));
      return l::ConsentScope(l::ScopeRecord{id});
    }
    default:
      break;
  }
  return Status::InvalidArgument(
      "field 'grant_consent.scope' is empty; give all_records=true, kinds, or a record_id");
}

Result<l::GrantConsent> FromWire(const v1::GrantConsent& m) {
  l::GrantConsent g;
  ERTR_ASSIGN_OR_RETURN(g.grant_id, Fixed<l::GrantId>(m.grant_id(), "grant_consent.grant_id"));
  ERTR_ASSIGN_OR_RETURN(
      g.patient, Fixed<l::Pseudonym>(m.patient_pseudonym(), "grant_consent.patient_pseudonym"));
  ERTR_ASSIGN_OR_RETURN(g.grantee, FromWire(m.grantee()));
  ERTR_ASSIGN_OR_RETURN(g.scope, FromWire(m.scope()));
  g.expires_at_ms = m.expires_at_ms();
  return g;
}

Result<l::AccessEvent> FromWire(const v1::AccessEvent& m, const std::string& f) {
  l::AccessEvent e;
  ERTR_ASSIGN_OR_RETURN(e.record_id, Fixed<l::RecordId>(m.record_id(), f + ".record_id"));
  ERTR_ASSIGN_OR_RETURN(e.user_key, Fixed<crypto::PublicKey>(m.user_key(), f + ".user_key"));
  e.institution_id = m.institution_id();
  ERTR_ASSIGN_OR_RETURN(e.outcome, Enum<l::AccessOutcome>(m.outcome(), 3, f + ".outcome"));
  e.purpose = m.purpose();
  e.requested_at_ms = m.requested_at_ms();
  e.reason = m.reason();
  return e;
}

template <typename T>
Result<l::Payload> Wrap(Result<T> r) {
  if (!r) return r.error();
  return l::Payload(std::move(*r));
}

Result<l::Payload> PayloadFromWire(const v1::TransactionBody& m) {
  using B = v1::TransactionBody;
  switch (m.payload_case()) {
    case B::kGenesis:
      return Wrap(FromWire(m.genesis()));
    case B::kRegisterUser: {
      const auto& u = m.register_user();
      l::RegisterUser out;
      out.institution_id = u.institution_id();
      ERTR_ASSIGN_OR_RETURN(out.user_key,
                            Fixed<crypto::PublicKey>(u.user_key(), "register_user.user_key"));
      ERTR_ASSIGN_OR_RETURN(out.role, Enum<l::Role>(u.role(), l::kMaxRole, "register_user.role"));
      out.staff_handle = u.staff_handle();
      return l::Payload(std::move(out));
    }
    case B::kDeactivateUser: {
      l::DeactivateUser out;
      ERTR_ASSIGN_OR_RETURN(out.user_key, Fixed<crypto::PublicKey>(m.deactivate_user().user_key(),
                                                                   "deactivate_user.user_key"));
      out.reason_code = m.deactivate_user().reason_code();
      return l::Payload(std::move(out));
    }
    case B::kRegisterPatient: {
      const auto& p = m.register_patient();
      l::RegisterPatient out;
      ERTR_ASSIGN_OR_RETURN(out.pseudonym,
                            Fixed<l::Pseudonym>(p.pseudonym(), "register_patient.pseudonym"));
      out.home_institution_id = p.home_institution_id();
      if (!p.patient_key().empty()) {
        ERTR_ASSIGN_OR_RETURN(
            out.patient_key,
            Fixed<crypto::PublicKey>(p.patient_key(), "register_patient.patient_key"));
      }
      return l::Payload(std::move(out));
    }
    case B::kSubmitRecord:
      return Wrap(FromWire(m.submit_record()));
    case B::kGrantConsent:
      return Wrap(FromWire(m.grant_consent()));
    case B::kRevokeConsent: {
      l::RevokeConsent out;
      ERTR_ASSIGN_OR_RETURN(out.grant_id, Fixed<l::GrantId>(m.revoke_consent().grant_id(),
                                                            "revoke_consent.grant_id"));
      ERTR_ASSIGN_OR_RETURN(out.patient, Fixed<l::Pseudonym>(m.revoke_consent().patient_pseudonym(),
                                                             "revoke_consent.patient_pseudonym"));
      return l::Payload(std::move(out));
    }
    case B::kKeyShare: {
      l::KeyShare out;
      ERTR_ASSIGN_OR_RETURN(out.record_id,
                            Fixed<l::RecordId>(m.key_share().record_id(), "key_share.record_id"));
      ERTR_ASSIGN_OR_RETURN(out.envelope, FromWire(m.key_share().envelope(), "key_share.envelope"));
      return l::Payload(std::move(out));
    }
    case B::kRecordAccess: {
      l::RecordAccess out;
      if (m.record_access().events_size() > 4096) {
        return Status::InvalidArgument("field 'record_access.events' has too many events");
      }
      for (int i = 0; i < m.record_access().events_size(); ++i) {
        ERTR_ASSIGN_OR_RETURN(
            auto e, FromWire(m.record_access().events(i), Idx("record_access.events", i)));
        out.events.push_back(std::move(e));
      }
      return l::Payload(std::move(out));
    }
    case B::kBreakGlass: {
      l::BreakGlass out;
      ERTR_ASSIGN_OR_RETURN(out.patient, Fixed<l::Pseudonym>(m.break_glass().patient_pseudonym(),
                                                             "break_glass.patient_pseudonym"));
      out.reason_code = m.break_glass().reason_code();
      out.duration_ms = m.break_glass().duration_ms();
      return l::Payload(std::move(out));
    }
    case B::kEraseRecord: {
      l::EraseRecord out;
      ERTR_ASSIGN_OR_RETURN(out.record_id, Fixed<l::RecordId>(m.erase_record().record_id(),
                                                              "erase_record.record_id"));
      out.reason_code = m.erase_record().reason_code();
      return l::Payload(std::move(out));
    }
    case B::kNullOp: {
      const auto& p = m.null_op().payload();
      return l::Payload(l::NullOp{ToBytes(p)});
    }
    case B::PAYLOAD_NOT_SET:
      break;
  }
  return Status::InvalidArgument("transaction has no payload; set one of its typed bodies");
}

// ---- domain -> wire ----

}  // namespace

void ToWire(const l::Grantee& grantee, v1::Grantee& who) {
  if (const auto* i = std::get_if<l::GranteeInstitution>(&grantee)) {
    who.set_institution_id(i->institution_id);
  } else if (const auto* r = std::get_if<l::GranteeRole>(&grantee)) {
    who.mutable_institution_role()->set_institution_id(r->institution_id);
    who.mutable_institution_role()->set_role(static_cast<v1::Role>(r->role));
  } else {
    who.set_user_key(ToString(std::get<l::GranteeUser>(grantee).user_key.span()));
  }
}

void ToWire(const l::ConsentScope& what, v1::ConsentScope& scope) {
  if (std::holds_alternative<l::ScopeAll>(what)) {
    scope.set_all_records(true);
  } else if (const auto* k = std::get_if<l::ScopeKinds>(&what)) {
    auto* kinds = scope.mutable_kinds();
    for (auto kind : k->kinds) kinds->add_kinds(static_cast<v1::RecordKind>(kind));
  } else {
    scope.set_record_id(ToString(std::get<l::ScopeRecord>(what).record_id.span()));
  }
}

namespace {

void ToWire(const l::KeyEnvelope& e, v1::KeyEnvelope& m) {
  m.set_institution_id(e.institution_id);
  m.set_sealed_key(ToString(e.sealed_key.span()));
}

struct PayloadToWire {
  v1::TransactionBody& m;

  void operator()(const l::Genesis& g) const {
    auto* w = m.mutable_genesis();
    w->set_chain_id(g.chain_id);
    w->set_genesis_time_ms(g.genesis_time_ms);
    for (const auto& inst : g.institutions) {
      auto* i = w->add_institutions();
      i->set_id(inst.id);
      i->set_name(inst.name);
      i->set_validator_key(ToString(inst.validator_key.span()));
      i->set_encryption_key(ToString(inst.encryption_key.span()));
      for (const auto& k : inst.admin_keys) i->add_admin_keys(ToString(k.span()));
    }
    auto* p = w->mutable_parameters();
    p->set_max_block_transactions(g.parameters.max_block_transactions);
    p->set_max_block_bytes(g.parameters.max_block_bytes);
    p->set_max_transaction_bytes(g.parameters.max_transaction_bytes);
    p->set_checkpoint_interval(g.parameters.checkpoint_interval);
    p->set_default_validity_window(g.parameters.default_validity_window);
    p->set_benchmark_mode(g.parameters.benchmark_mode);
    p->set_block_time_in_state(g.parameters.block_time_in_state);
  }
  void operator()(const l::RegisterUser& u) const {
    auto* w = m.mutable_register_user();
    w->set_institution_id(u.institution_id);
    w->set_user_key(ToString(u.user_key.span()));
    w->set_role(static_cast<v1::Role>(u.role));
    w->set_staff_handle(u.staff_handle);
  }
  void operator()(const l::DeactivateUser& d) const {
    auto* w = m.mutable_deactivate_user();
    w->set_user_key(ToString(d.user_key.span()));
    w->set_reason_code(d.reason_code);
  }
  void operator()(const l::RegisterPatient& p) const {
    auto* w = m.mutable_register_patient();
    w->set_pseudonym(ToString(p.pseudonym.span()));
    w->set_home_institution_id(p.home_institution_id);
    if (p.patient_key) w->set_patient_key(ToString(p.patient_key->span()));
  }
  void operator()(const l::SubmitRecord& r) const {
    auto* w = m.mutable_submit_record();
    w->set_record_id(ToString(r.record_id.span()));
    w->set_patient_pseudonym(ToString(r.patient.span()));
    w->set_kind(static_cast<v1::RecordKind>(r.kind));
    w->set_ciphertext_digest(ToString(r.ciphertext_digest.span()));
    w->set_ciphertext_size(r.ciphertext_size);
    w->mutable_locator()->set_content_digest(ToString(r.locator.content_digest.span()));
    for (const auto& h : r.locator.holder_institutions)
      w->mutable_locator()->add_holder_institutions(h);
    w->set_uploader_institution_id(r.uploader_institution_id);
    for (const auto& e : r.envelopes) ToWire(e, *w->add_envelopes());
  }
  void operator()(const l::GrantConsent& g) const {
    auto* w = m.mutable_grant_consent();
    w->set_grant_id(ToString(g.grant_id.span()));
    w->set_patient_pseudonym(ToString(g.patient.span()));
    proto::ToWire(g.grantee, *w->mutable_grantee());
    proto::ToWire(g.scope, *w->mutable_scope());
    w->set_expires_at_ms(g.expires_at_ms);
  }
  void operator()(const l::RevokeConsent& r) const {
    auto* w = m.mutable_revoke_consent();
    w->set_grant_id(ToString(r.grant_id.span()));
    w->set_patient_pseudonym(ToString(r.patient.span()));
  }
  void operator()(const l::KeyShare& k) const {
    auto* w = m.mutable_key_share();
    w->set_record_id(ToString(k.record_id.span()));
    ToWire(k.envelope, *w->mutable_envelope());
  }
  void operator()(const l::RecordAccess& a) const {
    auto* w = m.mutable_record_access();
    for (const auto& e : a.events) {
      auto* ev = w->add_events();
      ev->set_record_id(ToString(e.record_id.span()));
      ev->set_user_key(ToString(e.user_key.span()));
      ev->set_institution_id(e.institution_id);
      ev->set_outcome(static_cast<v1::AccessOutcome>(e.outcome));
      ev->set_purpose(e.purpose);
      ev->set_requested_at_ms(e.requested_at_ms);
      ev->set_reason(e.reason);
    }
  }
  void operator()(const l::BreakGlass& b) const {
    auto* w = m.mutable_break_glass();
    w->set_patient_pseudonym(ToString(b.patient.span()));
    w->set_reason_code(b.reason_code);
    w->set_duration_ms(b.duration_ms);
  }
  void operator()(const l::EraseRecord& e) const {
    auto* w = m.mutable_erase_record();
    w->set_record_id(ToString(e.record_id.span()));
    w->set_reason_code(e.reason_code);
  }
  void operator()(const l::NullOp& n) const {
    m.mutable_null_op()->set_payload(ToString(n.payload));
  }
};

}  // namespace

// Both build the transaction whole: a default-constructed one first makes (and frees) the status
// that says its payload is not decoded, per transaction on the hot paths.
ledger::Transaction DecodePayload(ledger::SignedTransaction signed_tx) {
  v1::TransactionBody body;
  // The envelope decoded already, so the body parses; check anyway rather than assume.
  auto parsed = Parse(body, signed_tx.body, "transaction body", kMaxTransactionBytes);
  auto payload = parsed.ok() ? PayloadFromWire(body) : Result<ledger::Payload>(parsed);
  return ledger::Transaction{std::move(signed_tx), std::move(payload)};
}

namespace {
Result<ledger::Transaction> DecodeTransactionOnce(ByteSpan bytes, const crypto::Digest* id,
                                                  Canonical canonical = Canonical::kNotChecked) {
  v1::TransactionBody body;
  ERTR_ASSIGN_OR_RETURN(auto signed_tx, DecodeEnvelope(bytes, id, body, canonical));
  return ledger::Transaction{std::move(signed_tx), PayloadFromWire(body)};
}
}  // namespace

Result<ledger::Transaction> DecodeTransaction(ByteSpan bytes) {
  return DecodeTransactionOnce(bytes, nullptr);
}

Result<ledger::Transaction> DecodeTransaction(ByteSpan bytes, const crypto::Digest& id) {
  return DecodeTransactionOnce(bytes, &id);
}

Result<ledger::Transaction> DecodeTransactionToAdmit(ByteSpan bytes, const crypto::Digest* id) {
  return DecodeTransactionOnce(bytes, id, Canonical::kRequired);
}

Bytes EncodeTransactionBody(const ledger::TransactionHeader& header,
                            const ledger::Payload& payload) {
  v1::TransactionBody m;
  m.set_chain_id(header.chain_id);
  m.set_signer(ToString(header.signer.span()));
  m.set_nonce(header.nonce);
  m.set_valid_until_height(header.valid_until_height);
  std::visit(PayloadToWire{m}, payload);
  return Serialize(m);
}

Result<ledger::Transaction> MakeTransaction(const ledger::TransactionHeader& header,
                                            const ledger::Payload& payload,
                                            const crypto::Signer& signer) {
  ledger::TransactionHeader h = header;
  h.signer = signer.public_key();
  ledger::SignedTransaction signed_tx;
  signed_tx.body = EncodeTransactionBody(h, payload);
  ERTR_ASSIGN_OR_RETURN(signed_tx.signature, signer.Sign(crypto::SigningDomain::kTransaction,
                                                         h.chain_id, signed_tx.body));
  return DecodeTransaction(EncodeSignedTransaction(signed_tx));
}

Result<ledger::Transaction> LoadGenesis(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec)
    return Status::NotFound("cannot read the genesis file " + file.string() + ": " + ec.message());
  // A genesis of 26 institutions is a few KiB.
  if (size > (1u << 20)) {
    return Status::InvalidArgument(file.string() + " is " + std::to_string(size) +
                                   " bytes: not a genesis file (genesis.bin of a node home)");
  }
  std::ifstream in(file, std::ios::binary);
  Bytes data(size);
  if (!in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size))) {
    return Status::IoError("cannot read the genesis file " + file.string());
  }
  auto tx = DecodeTransaction(data);
  if (!tx) return tx.error().WithContext("genesis file " + file.string());
  if (!tx->payload || !std::holds_alternative<ledger::Genesis>(*tx->payload)) {
    return Status::InvalidArgument(file.string() +
                                   " is not a genesis file (genesis.bin of a node home)");
  }
  return tx;
}

}  // namespace ertr::proto
