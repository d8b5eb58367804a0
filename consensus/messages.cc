#include "consensus/messages.h"

namespace ertr::consensus {

Bytes CheckpointPayload(Height height, const crypto::Digest& root) {
  Bytes out;
  PutU64Le(out, height.value());
  Append(out, root.span());
  return out;
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
