#include "proto/api_codec.h"

#include "proto/wire_helpers.h"

namespace ertr::proto {

using ertr::ToString;

void ToWire(const ledger::RecordState& r, ledger::AccessBasis basis, ertr::v1::RecordInfo& out) {
  out.set_record_id(ToString(r.id.span()));
  out.set_patient_pseudonym(ToString(r.patient.span()));
  out.set_kind(static_cast<ertr::v1::RecordKind>(r.kind));
  out.set_ciphertext_digest(ToString(r.ciphertext_digest.span()));
  out.set_ciphertext_size(r.ciphertext_size);
  out.set_uploader_user(ToString(r.uploader_user.span()));
  out.set_uploader_institution_id(r.uploader_institution_id);
  out.set_height(r.height);
  out.set_time_ms(r.time_ms);
  out.set_tx_id(ToString(r.tx_id.span()));
  out.set_erased(r.erased);
  if (basis != ledger::AccessBasis::kNone) {
    out.set_access_basis(std::string(ledger::AccessBasisName(basis)));
  }
  for (const auto& h : r.holders) out.add_holder_institutions(h);
}

void ToWire(const ledger::GrantState& g, bool active, ertr::v1::GrantInfo& out) {
  out.set_grant_id(ToString(g.id.span()));
  ToWire(g.grantee, *out.mutable_grantee());
  ToWire(g.scope, *out.mutable_scope());
  out.set_expires_at_ms(g.expires_at_ms);
  out.set_granted_by(ToString(g.granted_by.span()));
  out.set_granted_height(g.granted_height);
  out.set_revoked(g.revoked);
  out.set_revoked_height(g.revoked_height);
  out.set_active(active);
}

void ToWire(const ledger::AuditEntry& e, ertr::v1::AuditEntryInfo& out) {
  out.set_kind(std::string(ledger::AuditKindName(e.kind)));
  out.set_height(e.height);
  out.set_time_ms(e.time_ms);
  out.set_actor(ToString(e.actor.span()));
  out.set_actor_institution(e.actor_institution);
  if (e.record) out.set_record_id(ToString(e.record->span()));
  if (e.grant) out.set_grant_id(ToString(e.grant->span()));
  out.set_detail(e.detail);
  out.set_flagged(e.flagged);
  out.set_tx_id(ToString(e.tx_id.span()));
  out.set_event_time_ms(e.event_time_ms);
}

}  // namespace ertr::proto
