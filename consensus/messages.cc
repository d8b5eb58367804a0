#include "consensus/messages.h"

#include <set>
#include <string>

namespace ertr::consensus {

Bytes CheckpointPayload(Height height, const crypto::Digest& root) {
  Bytes out;
  PutU64Le(out, height.value());
  Append(out, root.span());
  return out;
}

Status VerifyCheckpointProof(Height height, const crypto::Digest& root,
                             const std::vector<Checkpoint>& checkpoints,
                             const ValidatorSet& validators, std::string_view chain_id,
                             const crypto::Verifier& verifier) {
  const std::string what = "checkpoint proof for height " + height.ToString();
  if (height == Height(0)) {
    if (checkpoints.empty()) return Status::Ok();
    return Status::Unauthenticated(what + " holds checkpoints; the genesis state has none");
  }
  const Bytes payload = CheckpointPayload(height, root);
  std::set<ReplicaId> signers;
  for (const Checkpoint& cp : checkpoints) {
    if (cp.height != height || cp.state_root != root) {
      return Status::Unauthenticated(what + " has a checkpoint of replica " + cp.sender.ToString() +
                                     " for another height or state root");
    }
    if (!validators.Contains(cp.sender)) {
      return Status::Unauthenticated(what + " has a checkpoint of replica " + cp.sender.ToString() +
                                     ", which is not in the validator set");
    }
    if (!signers.insert(cp.sender).second) {
      return Status::Unauthenticated(what + " counts replica " + cp.sender.ToString() + " twice");
    }
    if (!verifier.Verify(validators.key(cp.sender), crypto::SigningDomain::kCheckpoint, chain_id,
                         payload, cp.signature)) {
      return Status::Unauthenticated(what + " has an invalid signature from replica " +
                                     cp.sender.ToString());
    }
  }
  if (signers.size() < validators.quorum()) {
    return Status::Unauthenticated(what + " has " + std::to_string(signers.size()) +
                                   " checkpoints; a quorum of " +
                                   std::to_string(validators.quorum()) + " is needed");
  }
  return Status::Ok();
}

Bytes ViewChangePayload(const ViewChange& vc) {
  Bytes out;
  PutU64Le(out, vc.new_view.value());
  PutU64Le(out, vc.stable_height.value());
  Append(out, vc.stable_root.span());
  PutU32Le(out, static_cast<std::uint32_t>(vc.prepared.size()));
  for (const auto& pc : vc.prepared) {
    PutU64Le(out, pc.view.value());
    PutU64Le(out, pc.proposal.header.height.value());
    Append(out, pc.proposal.digest.span());
  }
  return out;
}

Bytes NewViewPayload(const NewView& nv) {
  Bytes out;
  PutU64Le(out, nv.view.value());
  PutU32Le(out, static_cast<std::uint32_t>(nv.view_changes.size()));
  for (const auto& vc : nv.view_changes) {
    PutU32Le(out, vc.sender.value());
    Append(out, crypto::Hash(ViewChangePayload(vc)).span());
  }
  return out;
}

PrePrepare CompactPrePrepare(const PrePrepare& pp) {
  PrePrepare out{
      pp.view, Proposal{pp.proposal.header, {}, pp.proposal.digest}, pp.sender, pp.signature, {}};
  out.tx_ids.reserve(pp.proposal.txs.size());
  for (const auto& tx : pp.proposal.txs) out.tx_ids.push_back(tx.id);
  return out;
}

PreparedCertificate HeaderOnly(const PreparedCertificate& pc) {
  return PreparedCertificate{pc.view, Proposal{pc.proposal.header, {}, pc.proposal.digest},
                             pc.prepares};
}

const char* MessageName(const Message& m) {
  static constexpr const char* kNames[] = {"pre-prepare",
                                           "prepare",
                                           "commit",
                                           "checkpoint",
                                           "view-change",
                                           "new-view",
                                           "fetch-transactions",
                                           "fetched-transactions",
                                           "fetch-proposal",
                                           "fetched-proposal"};
  static_assert(std::size(kNames) == std::variant_size_v<Message>);
  return kNames[m.index()];
}

ReplicaId MessageSender(const Message& m) {
  return std::visit([](const auto& x) { return x.sender; }, m);
}

}  // namespace ertr::consensus
