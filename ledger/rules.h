#pragma once

// Internal to ledger/: what the per-transaction rules share (docs/spec/ledger.md, "Rules").

#include <cstdint>
#include <optional>
#include <string>

#include "ledger/chain_code.h"
#include "ledger/policy.h"
#include "ledger/state.h"

namespace ertr::ledger::rules {

// nullopt: the transaction is accepted and its writes stand. Errors: unreadable state.
using Verdict = Result<std::optional<Rejection>>;

inline Verdict Accept() { return std::optional<Rejection>(); }
inline Verdict Reject(RejectReason reason, std::string field, std::string message) {
  return std::optional<Rejection>(Rejection{reason, std::move(field), std::move(message)});
}

struct TxContext {
  StateView& state;  // this transaction's writes, over the block's
  const ChainState& chain;
  const BlockContext& block;
  std::uint32_t tx_index;  // audit position: 0 for block-start work, transaction i is i + 1
  crypto::PublicKey signer;
  crypto::Digest tx_id;
  std::uint32_t audit_entries = 0;

  // Appends an entry to the patient's audit trail (and the record's, if it names one), filling
  // in height, time and transaction id.
  void Audit(AuditEntry entry);
};

// The signer as an active user, or the rejection that says why not.
struct ActiveUser {
  std::optional<UserState> user;
  std::optional<Rejection> rejection;
};
Result<ActiveUser> LoadActiveSigner(const TxContext& ctx, std::string_view field);

// The institution whose node (validator key) is the signer, if any.
Result<std::optional<std::string>> SignerNodeInstitution(const TxContext& ctx);

// Whether `id` is a member institution.
Result<bool> InstitutionExists(const TxContext& ctx, std::string_view id);

// Whether the signer may act for the patient: the patient's own key, or an active admin of the
// patient's home institution.
Result<bool> ActsForPatient(const TxContext& ctx, const PatientState& patient);

// Deletes the envelopes of the patient's records held by institutions no longer entitled at the
// block time, with an audit entry each naming the signer and `actor_institution`, the
// institution it acts for (empty for an expiry, which no one signs).
Status WithdrawUnentitledEnvelopes(TxContext& ctx, const Pseudonym& patient,
                                   const std::string& actor_institution);

Verdict OnRegisterUser(TxContext& ctx, const RegisterUser& tx);
Verdict OnDeactivateUser(TxContext& ctx, const DeactivateUser& tx);
Verdict OnRegisterPatient(TxContext& ctx, const RegisterPatient& tx);
Verdict OnSubmitRecord(TxContext& ctx, const SubmitRecord& tx);
Verdict OnKeyShare(TxContext& ctx, const KeyShare& tx);
Verdict OnEraseRecord(TxContext& ctx, const EraseRecord& tx);
Verdict OnRecordAccess(TxContext& ctx, const RecordAccess& tx);
Verdict OnGrantConsent(TxContext& ctx, const GrantConsent& tx);
Verdict OnRevokeConsent(TxContext& ctx, const RevokeConsent& tx);
Verdict OnBreakGlass(TxContext& ctx, const BreakGlass& tx);

}  // namespace ertr::ledger::rules
