#include "ledger/chain_code.h"

#include <set>

#include "ledger/genesis_rules.h"
#include "ledger/rules.h"
#include "ledger/shape.h"

namespace ertr::ledger {

using rules::Reject;
using rules::TxContext;
using rules::Verdict;

namespace rules {

void TxContext::Audit(AuditEntry entry) {
  entry.height = block.height.value();
  entry.time_ms = block.time_ms;
  if (entry.event_time_ms == 0) entry.event_time_ms = block.time_ms;
  entry.tx_id = tx_id;
  Bytes position = keys::AuditPosition(block.height.value(), tx_index, audit_entries++);
  Bytes patient_key = keys::PatientAudit(entry.patient);
  Append(patient_key, position);
  if (entry.record) {
    Bytes record_key = keys::RecordAudit(*entry.record);
    Append(record_key, position);
    state.Save(std::move(record_key), entry);
  }
  state.Save(std::move(patient_key), entry);
}

Result<ActiveUser> LoadActiveSigner(const TxContext& ctx, std::string_view field) {
  ActiveUser out;
  ERTR_ASSIGN_OR_RETURN(out.user, ctx.state.Load<UserState>(keys::User(ctx.signer)));
  if (!out.user) {
    out.rejection = Rejection{RejectReason::kUnknownSigner, std::string(field),
                              "the signer is not a registered user of any institution"};
  } else if (!out.user->active) {
    out.rejection = Rejection{RejectReason::kDeactivatedUser, std::string(field),
                              "the signer's account was deactivated and can do nothing further"};
  }
  return out;
}

Result<std::optional<std::string>> SignerNodeInstitution(const TxContext& ctx) {
  ERTR_ASSIGN_OR_RETURN(auto raw, ctx.state.Get(keys::ValidatorKey(ctx.signer)));
  if (!raw) return std::optional<std::string>();
  return std::optional<std::string>(std::string(AsStringView(*raw)));
}

Result<bool> InstitutionExists(const TxContext& ctx, std::string_view id) {
  ERTR_ASSIGN_OR_RETURN(auto raw, ctx.state.Get(keys::Institution(id)));
  return raw.has_value();
}

Result<bool> ActsForPatient(const TxContext& ctx, const PatientState& patient) {
  if (patient.patient_key && *patient.patient_key == ctx.signer) return true;
  ERTR_ASSIGN_OR_RETURN(auto user, ctx.state.Load<UserState>(keys::User(ctx.signer)));
  return user && user->active && user->role == Role::kAdmin &&
         user->institution_id == patient.home_institution_id;
}

}  // namespace rules

namespace {

// Checks that do not depend on the payload: chain, size, signature, deadline, nonce.
// `owned` is set when the transaction is provably its signer's (its nonce is then consumed).
Result<std::optional<Rejection>> CheckEnvelope(const TxContext& ctx, const Transaction& tx,
                                               const crypto::Verifier& verifier, bool& owned) {
  const auto& h = tx.signed_tx.header;
  owned = false;
  if (h.chain_id != ctx.chain.chain_id) {
    return Reject(
        RejectReason::kWrongChain, "chain_id",
        "the transaction is for chain '" + h.chain_id + "', this is '" + ctx.chain.chain_id + "'");
  }
  if (tx.signed_tx.body.size() > ctx.chain.params.max_transaction_bytes) {
    return Reject(RejectReason::kOversize, "body",
                  "the transaction is " + std::to_string(tx.signed_tx.body.size()) +
                      " bytes; this chain allows " +
                      std::to_string(ctx.chain.params.max_transaction_bytes));
  }
  // A benchmark chain's NullOp is nobody's: no signature, no nonce (and no outcome: ADR 0023).
  if (!IsUnsignedCommand(h, ctx.chain.params.benchmark_mode)) {
    if (!ctx.block.signatures_certified && !HasValidSignature(tx.signed_tx, verifier)) {
      return Reject(RejectReason::kBadSignature, "signature",
                    "the signature is not the signer's over this body and chain id");
    }
    ERTR_ASSIGN_OR_RETURN(auto used, ctx.state.Get(keys::Nonce(h.signer, h.nonce)));
    if (used) {
      return Reject(RejectReason::kReplayedNonce, "nonce",
                    "the signer used nonce " + std::to_string(h.nonce) +
                        " before; sign the transaction again with a fresh nonce");
    }
    owned = true;
  }
  if (h.valid_until_height != 0 && ctx.block.height.value() > h.valid_until_height) {
    return Reject(RejectReason::kExpiredTransaction, "valid_until_height",
                  "the transaction was valid until height " + std::to_string(h.valid_until_height) +
                      "; this block is " + ctx.block.height.ToString());
  }
  if (!tx.payload) {
    return Reject(RejectReason::kMalformed, "payload", tx.payload.error().message());
  }
  return ValidateShape(*tx.payload);
}

Verdict Dispatch(TxContext& ctx, const Payload& payload) {
  struct Visitor {
    TxContext& ctx;
    Verdict operator()(const Genesis&) const {
      return Reject(RejectReason::kGenesisNotAllowed, "genesis",
                    "genesis is only valid as the chain's first state");
    }
    Verdict operator()(const RegisterUser& p) const { return rules::OnRegisterUser(ctx, p); }
    Verdict operator()(const DeactivateUser& p) const { return rules::OnDeactivateUser(ctx, p); }
    Verdict operator()(const RegisterPatient& p) const { return rules::OnRegisterPatient(ctx, p); }
    Verdict operator()(const SubmitRecord& p) const { return rules::OnSubmitRecord(ctx, p); }
    Verdict operator()(const GrantConsent& p) const { return rules::OnGrantConsent(ctx, p); }
    Verdict operator()(const RevokeConsent& p) const { return rules::OnRevokeConsent(ctx, p); }
    Verdict operator()(const KeyShare& p) const { return rules::OnKeyShare(ctx, p); }
    Verdict operator()(const RecordAccess& p) const { return rules::OnRecordAccess(ctx, p); }
    Verdict operator()(const BreakGlass& p) const { return rules::OnBreakGlass(ctx, p); }
    Verdict operator()(const EraseRecord& p) const { return rules::OnEraseRecord(ctx, p); }
    Verdict operator()(const NullOp&) const {
      if (!ctx.chain.params.benchmark_mode) {
        return Reject(RejectReason::kNotAllowed, "null_op",
                      "NullOp is accepted only on a benchmark chain (parameters.benchmark_mode)");
      }
      return rules::Accept();
    }
  };
  return std::visit(Visitor{ctx}, payload);
}

// Grants and break-glass sessions that ended by the block's time take their envelopes with them
// (docs/spec/ledger.md, "Expiry").
Status ProcessExpiries(StateView& block_view, const ChainState& chain, const BlockContext& block) {
  std::set<Pseudonym> patients;
  std::vector<Bytes> done;
  const Bytes prefix = keys::ExpiriesUpTo();
  ERTR_RETURN_IF_ERROR(block_view.ScanPrefix(prefix, [&](ByteSpan key, ByteSpan) {
    ByteReader r(key.subspan(prefix.size()));
    auto time = r.Take(8, "time");
    auto who = r.Array<Pseudonym::kSize>("patient");
    if (!time || !who) return true;  // not written by this code; left alone
    if (LoadU64Be(time->data()) > block.time_ms) return false;
    patients.insert(Pseudonym(*who));
    done.emplace_back(key.begin(), key.end());
    return true;
  }));
  if (patients.empty()) return Status::Ok();
  TxContext ctx{block_view, chain, block, 0, crypto::PublicKey(), crypto::Digest(), 0};
  for (const auto& p : patients) {
    ERTR_RETURN_IF_ERROR(rules::WithdrawUnentitledEnvelopes(ctx, p, ""));  // no actor: expiry
    ERTR_ASSIGN_OR_RETURN(auto glasses, block_view.LoadAll<BreakGlassState>(keys::BreakGlasses(p)));
    for (const auto& g : glasses) {
      if (g.expires_at_ms <= block.time_ms) block_view.Delete(keys::BreakGlass(p, g.user_key));
    }
  }
  for (auto& k : done) block_view.Delete(std::move(k));
  return Status::Ok();
}

}  // namespace

Result<StateDelta> ChainCode::ExecuteGenesis(const Transaction& genesis,
                                             const StateReader& state) const {
  return rules::ApplyGenesis(genesis, state, verifier_);
}

Result<BlockResult> ChainCode::ExecuteBlock(const BlockContext& block,
                                            std::span<const Transaction> txs,
                                            const StateReader& state) const {
  const CachingStateReader committed(state);
  StateView block_view(committed);
  ERTR_ASSIGN_OR_RETURN(auto chain, block_view.Load<ChainState>(keys::Chain()));
  if (!chain) return Status::FailedPrecondition("no genesis in the state; initialise the chain");
  ERTR_RETURN_IF_ERROR(ProcessExpiries(block_view, *chain, block));

  BlockResult result;
  result.results.reserve(txs.size());
  for (std::size_t i = 0; i < txs.size(); ++i) {
    const Transaction& tx = txs[i];
    // Stacked on the block's view: reads fall through to it, writes stay the transaction's own
    // until merged (a copy of the block's writes per transaction was quadratic in block size).
    StateView tx_view(static_cast<const StateReader&>(block_view));
    TxContext ctx{tx_view,
                  *chain,
                  block,
                  static_cast<std::uint32_t>(i + 1),
                  tx.signed_tx.header.signer,
                  tx.signed_tx.id,
                  0};
    // A benchmark chain's NullOp is not executed: it leaves nothing in the state, not even its
    // outcome (ADR 0023); its result goes to the node's waiters only.
    const bool command = IsUnsignedCommand(tx.signed_tx.header, chain->params.benchmark_mode);
    // Read once, before the rules run (they never write outcome keys).
    std::optional<Bytes> prior;
    if (!command) {
      ERTR_ASSIGN_OR_RETURN(prior, block_view.Get(keys::Outcome(tx.signed_tx.id)));
    }
    bool owned = false;
    ERTR_ASSIGN_OR_RETURN(auto rejection, CheckEnvelope(ctx, tx, verifier_, owned));
    if (!rejection) {
      ERTR_ASSIGN_OR_RETURN(rejection, Dispatch(ctx, *tx.payload));
    }
    if (!rejection) block_view.Merge(tx_view.TakeDelta());
    if (owned) block_view.Put(keys::Nonce(ctx.signer, tx.signed_tx.header.nonce), {});
    // The outcome of the id is written by the first copy that is really its signer's; a forged
    // copy (bad chain, size or signature) writes one only while none exists, so it cannot mask
    // the real transaction's outcome, and an exact replay leaves the first outcome standing.
    if (!command && (owned || !prior)) {
      TxOutcomeState outcome;
      outcome.height = block.height.value();
      outcome.index = static_cast<std::uint32_t>(i);
      outcome.accepted = !rejection;
      if (rejection) {
        outcome.reason = rejection->reason;
        outcome.field = rejection->field;
        outcome.message = rejection->message;
      }
      block_view.Save(keys::Outcome(tx.signed_tx.id), outcome);
    }
    result.results.push_back(TxResult{tx.signed_tx.id, std::move(rejection)});
  }
  // The effective time, on a chain that keeps it in the state (its presence is the parameter).
  ERTR_ASSIGN_OR_RETURN(auto time, block_view.Get(keys::BlockTime()));
  if (time) block_view.Save(keys::BlockTime(), BlockTimeState{block.height.value(), block.time_ms});
  result.writes = block_view.TakeDelta();
  return result;
}

}  // namespace ertr::ledger
