#include "ledger/genesis_rules.h"

#include <set>

#include "ledger/shape.h"
#include "ledger/state.h"

namespace ertr::ledger::rules {

namespace {

Status Invalid(const std::string& field, const std::string& message) {
  return Status::InvalidArgument("genesis field '" + field + "': " + message);
}

// Keys must be distinct across every role so that a signer's authority is never ambiguous.
Status CheckDistinctKeys(const Genesis& g) {
  std::set<crypto::PublicKey> keys;
  std::set<crypto::BoxPublicKey> box_keys;
  std::set<std::string> ids;
  for (std::size_t i = 0; i < g.institutions.size(); ++i) {
    const auto& inst = g.institutions[i];
    const std::string f = "institutions[" + std::to_string(i) + "]";
    if (!ids.insert(inst.id).second) return Invalid(f + ".id", "'" + inst.id + "' appears twice");
    if (!keys.insert(inst.validator_key).second) {
      return Invalid(f + ".validator_key", "the key is used twice; every key must be distinct");
    }
    if (!box_keys.insert(inst.encryption_key).second) {
      return Invalid(f + ".encryption_key", "two institutions share an encryption key");
    }
    for (std::size_t k = 0; k < inst.admin_keys.size(); ++k) {
      if (!keys.insert(inst.admin_keys[k]).second) {
        return Invalid(f + ".admin_keys[" + std::to_string(k) + "]",
                       "the key is used twice; every key must be distinct");
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<StateDelta> ApplyGenesis(const Transaction& tx, const StateReader& state,
                                const crypto::Verifier& verifier) {
  StateView view(state);
  ERTR_ASSIGN_OR_RETURN(auto existing, view.Get(keys::Chain()));
  if (existing) {
    return Status::FailedPrecondition("the state already holds a chain; genesis applies once");
  }
  if (!tx.payload) return tx.payload.error().WithContext("genesis");
  const auto* g = std::get_if<Genesis>(&*tx.payload);
  if (g == nullptr) return Status::InvalidArgument("the first transaction must be a genesis");
  if (auto bad = ValidateShape(*tx.payload)) {
    return Status::InvalidArgument("genesis: " + bad->ToString());
  }
  if (g->chain_id != tx.signed_tx.header.chain_id) {
    return Invalid("chain_id", "differs from the transaction's chain_id");
  }
  ERTR_RETURN_IF_ERROR(CheckDistinctKeys(*g));
  bool signer_is_admin = false;
  for (const auto& inst : g->institutions) {
    for (const auto& k : inst.admin_keys) signer_is_admin |= (k == tx.signed_tx.header.signer);
  }
  if (!signer_is_admin) {
    return Invalid("signer", "genesis must be signed by one of the institutions' admin keys");
  }
  if (!HasValidSignature(tx.signed_tx, verifier)) {
    return Status::Unauthenticated("genesis signature does not verify; re-sign the genesis file");
  }

  ChainState chain{g->chain_id, g->genesis_time_ms, g->parameters, {}};
  for (std::uint32_t i = 0; i < g->institutions.size(); ++i) {
    const auto& inst = g->institutions[i];
    chain.validators.push_back(inst.id);
    view.Save(keys::Institution(inst.id),
              InstitutionState{inst.id, inst.name, inst.validator_key, inst.encryption_key, i});
    view.Put(keys::ValidatorKey(inst.validator_key), ToBytes(inst.id));
    for (std::size_t k = 0; k < inst.admin_keys.size(); ++k) {
      UserState admin;
      admin.key = inst.admin_keys[k];
      admin.institution_id = inst.id;
      admin.role = Role::kAdmin;
      admin.staff_handle = "genesis-admin-" + std::to_string(k);
      view.Save(keys::User(admin.key), admin);
      view.Put(keys::InstitutionUser(inst.id, admin.key), {});
    }
  }
  view.Save(keys::Chain(), chain);
  if (g->parameters.block_time_in_state) {
    view.Save(keys::BlockTime(), BlockTimeState{0, g->genesis_time_ms});
  }
  view.Put(keys::Nonce(tx.signed_tx.header.signer, tx.signed_tx.header.nonce), {});
  TxOutcomeState outcome;
  outcome.accepted = true;
  view.Save(keys::Outcome(tx.signed_tx.id), outcome);
  return view.TakeDelta();
}

}  // namespace ertr::ledger::rules
