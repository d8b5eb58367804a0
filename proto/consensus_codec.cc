#include "proto/consensus_codec.h"

#include "ertr/consensus/v1/messages.pb.h"
#include "proto/codec.h"
#include "proto/wire_helpers.h"

namespace ertr::proto {

namespace pb = ertr::consensus::v1;
using namespace wire;

namespace {

constexpr std::size_t kMaxListEntries = 4096;  // votes, certificates, view changes per message

Status TooMany(std::string_view field, int count) {
  return Status::InvalidArgument("consensus message field '" + std::string(field) + "' has " +
                                 std::to_string(count) + " entries; at most " +
                                 std::to_string(kMaxListEntries) + " are allowed");
}

void ToWire(const consensus::Proposal& p, pb::Proposal& out, bool with_transactions = true) {
  wire::ToWire(p.header, *out.mutable_header());
  if (!with_transactions) return;
  for (const auto& tx : p.txs) out.add_transactions(ToString(tx.bytes));
}

Result<consensus::Proposal> FromWire(const pb::Proposal& m, const TxIdFn& tx_id) {
  consensus::Proposal p;
  ERTR_ASSIGN_OR_RETURN(p.header, wire::FromWire(m.header()));
  ERTR_ASSIGN_OR_RETURN(
      auto txs,
      TransactionsWithIds(m.transactions(), tx_id, kMaxBlockTransactions, "proposal transaction"));
  p.txs = std::move(txs);
  p.digest = consensus::ProposalDigest(p.header);
  return p;
}

void ToWire(const std::vector<crypto::Digest>& ids,
            google::protobuf::RepeatedPtrField<std::string>& out) {
  out.Reserve(static_cast<int>(ids.size()));
  for (const auto& id : ids) *out.Add() = ToString(id.span());
}

Result<std::vector<crypto::Digest>> IdsFromWire(
    const google::protobuf::RepeatedPtrField<std::string>& raw, std::string_view field) {
  if (static_cast<std::size_t>(raw.size()) > kMaxBlockTransactions) {
    return wire::TooMany(field, static_cast<std::size_t>(raw.size()), kMaxBlockTransactions);
  }
  std::vector<crypto::Digest> ids;
  ids.reserve(static_cast<std::size_t>(raw.size()));
  for (int i = 0; i < raw.size(); ++i) {
    ERTR_ASSIGN_OR_RETURN(auto id, Fixed<crypto::Digest>(raw.Get(i), std::string(field) + "[" +
                                                                         std::to_string(i) + "]"));
    ids.push_back(id);
  }
  return ids;
}

// The fields a fetch request and its answer share (ADR 0026), and a FETCH-PROPOSAL has (ADR
// 0040): view, height, the proposal's digest, sender.
template <typename Fetch, typename Wire>
void FetchFieldsToWire(const Fetch& f, Wire& out) {
  out.set_view(f.view.value());
  out.set_height(f.height.value());
  out.set_digest(ToString(f.digest.span()));
  out.set_sender(f.sender.value());
}

template <typename Fetch, typename Wire>
Status FetchFieldsFromWire(const Wire& w, std::string_view kind, Fetch& out) {
  out.view = View(w.view());
  out.height = Height(w.height());
  ERTR_ASSIGN_OR_RETURN(out.digest,
                        Fixed<crypto::Digest>(w.digest(), std::string(kind) + ".digest"));
  out.sender = ReplicaId(w.sender());
  return Status::Ok();
}

void ToWire(const consensus::Vote& v, pb::Vote& out) {
  out.set_view(v.view.value());
  out.set_height(v.height.value());
  out.set_digest(ToString(v.digest.span()));
  out.set_sender(v.sender.value());
  out.set_signature(ToString(v.signature.span()));
}

template <typename V>
Result<V> VoteFromWire(const pb::Vote& m) {
  V v;
  v.view = View(m.view());
  v.height = Height(m.height());
  ERTR_ASSIGN_OR_RETURN(v.digest, Fixed<crypto::Digest>(m.digest(), "vote.digest"));
  v.sender = ReplicaId(m.sender());
  ERTR_ASSIGN_OR_RETURN(v.signature, Fixed<crypto::Signature>(m.signature(), "vote.signature"));
  return v;
}

void ToWire(const consensus::Checkpoint& c, pb::Checkpoint& out) {
  out.set_height(c.height.value());
  out.set_state_root(ToString(c.state_root.span()));
  out.set_sender(c.sender.value());
  out.set_signature(ToString(c.signature.span()));
}

Result<consensus::Checkpoint> FromWire(const pb::Checkpoint& m) {
  consensus::Checkpoint c;
  c.height = Height(m.height());
  ERTR_ASSIGN_OR_RETURN(c.state_root,
                        Fixed<crypto::Digest>(m.state_root(), "checkpoint.state_root"));
  c.sender = ReplicaId(m.sender());
  ERTR_ASSIGN_OR_RETURN(c.signature,
                        Fixed<crypto::Signature>(m.signature(), "checkpoint.signature"));
  return c;
}

// A list of checkpoints (a stable checkpoint's proof), bounded.
Result<std::vector<consensus::Checkpoint>> CheckpointsFromWire(
    const google::protobuf::RepeatedPtrField<pb::Checkpoint>& list, std::string_view field) {
  if (list.size() > static_cast<int>(kMaxListEntries)) return TooMany(field, list.size());
  std::vector<consensus::Checkpoint> out;
  out.reserve(static_cast<std::size_t>(list.size()));
  for (const auto& c : list) {
    ERTR_ASSIGN_OR_RETURN(auto cp, FromWire(c));
    out.push_back(std::move(cp));
  }
  return out;
}

void ToWire(const consensus::PreparedCertificate& pc, pb::PreparedCertificate& w,
            bool with_transactions = true) {
  w.set_view(pc.view.value());
  ToWire(pc.proposal, *w.mutable_proposal(), with_transactions);
  for (const auto& p : pc.prepares) ToWire(p, *w.add_prepares());
}

Result<consensus::PreparedCertificate> FromWire(const pb::PreparedCertificate& w,
                                                const TxIdFn& tx_id) {
  consensus::PreparedCertificate pc;
  pc.view = View(w.view());
  ERTR_ASSIGN_OR_RETURN(pc.proposal, FromWire(w.proposal(), tx_id));
  if (w.prepares_size() > static_cast<int>(kMaxListEntries)) {
    return TooMany("prepared.prepares", w.prepares_size());
  }
  for (const auto& v : w.prepares()) {
    ERTR_ASSIGN_OR_RETURN(auto p, VoteFromWire<consensus::Prepare>(v));
    pc.prepares.push_back(std::move(p));
  }
  return pc;
}

void ToWire(const consensus::ViewChange& vc, pb::ViewChange& out) {
  out.set_new_view(vc.new_view.value());
  out.set_stable_height(vc.stable_height.value());
  out.set_stable_root(ToString(vc.stable_root.span()));
  for (const auto& c : vc.checkpoint_proof) ToWire(c, *out.add_checkpoint_proof());
  for (const auto& pc : vc.prepared) ToWire(pc, *out.add_prepared());
  out.set_sender(vc.sender.value());
  out.set_signature(ToString(vc.signature.span()));
}

Result<consensus::ViewChange> FromWire(const pb::ViewChange& m, const TxIdFn& tx_id) {
  consensus::ViewChange vc;
  vc.new_view = View(m.new_view());
  vc.stable_height = Height(m.stable_height());
  if (!m.stable_root().empty() || vc.stable_height != Height(0)) {
    ERTR_ASSIGN_OR_RETURN(vc.stable_root,
                          Fixed<crypto::Digest>(m.stable_root(), "view_change.stable_root"));
  }
  if (m.prepared_size() > static_cast<int>(kMaxListEntries)) {
    return TooMany("view_change.prepared", m.prepared_size());
  }
  ERTR_ASSIGN_OR_RETURN(vc.checkpoint_proof,
                        CheckpointsFromWire(m.checkpoint_proof(), "view_change.checkpoint_proof"));
  for (const auto& w : m.prepared()) {
    ERTR_ASSIGN_OR_RETURN(auto pc, FromWire(w, tx_id));
    vc.prepared.push_back(std::move(pc));
  }
  vc.sender = ReplicaId(m.sender());
  ERTR_ASSIGN_OR_RETURN(vc.signature,
                        Fixed<crypto::Signature>(m.signature(), "view_change.signature"));
  return vc;
}

}  // namespace

Bytes EncodeConsensusMessage(const consensus::Message& message) {
  pb::ConsensusMessage out;
  std::visit(
      [&](const auto& m) {
        using T = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<T, consensus::PrePrepare>) {
          auto* w = out.mutable_pre_prepare();
          w->set_view(m.view.value());
          ToWire(m.proposal, *w->mutable_proposal());
          w->set_sender(m.sender.value());
          w->set_signature(ToString(m.signature.span()));
          ToWire(m.tx_ids, *w->mutable_transaction_ids());
        } else if constexpr (std::is_same_v<T, consensus::Prepare>) {
          ToWire(m, *out.mutable_prepare());
        } else if constexpr (std::is_same_v<T, consensus::Commit>) {
          ToWire(m, *out.mutable_commit());
        } else if constexpr (std::is_same_v<T, consensus::Checkpoint>) {
          ToWire(m, *out.mutable_checkpoint());
        } else if constexpr (std::is_same_v<T, consensus::ViewChange>) {
          ToWire(m, *out.mutable_view_change());
        } else if constexpr (std::is_same_v<T, consensus::NewView>) {
          auto* w = out.mutable_new_view();
          w->set_view(m.view.value());
          for (const auto& vc : m.view_changes) ToWire(vc, *w->add_view_changes());
          w->set_sender(m.sender.value());
          w->set_signature(ToString(m.signature.span()));
        } else if constexpr (std::is_same_v<T, consensus::FetchTransactions>) {
          auto* w = out.mutable_fetch_transactions();
          FetchFieldsToWire(m, *w);
          ToWire(m.ids, *w->mutable_transaction_ids());
        } else if constexpr (std::is_same_v<T, consensus::FetchedTransactions>) {
          auto* w = out.mutable_fetched_transactions();
          FetchFieldsToWire(m, *w);
          for (const auto& tx : m.txs) w->add_transactions(ToString(tx.bytes));
        } else if constexpr (std::is_same_v<T, consensus::FetchProposal>) {
          FetchFieldsToWire(m, *out.mutable_fetch_proposal());
        } else if constexpr (std::is_same_v<T, consensus::FetchedProposal>) {
          auto* w = out.mutable_fetched_proposal();
          w->set_view(m.view.value());
          ToWire(m.proposal, *w->mutable_proposal());
          w->set_sender(m.sender.value());
        }
      },
      message);
  return Serialize(out);
}

Result<consensus::Message> DecodeConsensusMessage(ByteSpan bytes, const TxIdFn& tx_id) {
  pb::ConsensusMessage m;
  ERTR_RETURN_IF_ERROR(Parse(m, bytes, "consensus message", kMaxConsensusMessageBytes));
  switch (m.kind_case()) {
    case pb::ConsensusMessage::kPrePrepare: {
      consensus::PrePrepare pp;
      pp.view = View(m.pre_prepare().view());
      ERTR_ASSIGN_OR_RETURN(pp.proposal, FromWire(m.pre_prepare().proposal(), tx_id));
      pp.sender = ReplicaId(m.pre_prepare().sender());
      ERTR_ASSIGN_OR_RETURN(pp.signature, Fixed<crypto::Signature>(m.pre_prepare().signature(),
                                                                   "pre_prepare.signature"));
      ERTR_ASSIGN_OR_RETURN(
          pp.tx_ids, IdsFromWire(m.pre_prepare().transaction_ids(), "pre_prepare.transaction_ids"));
      if (pp.compact() && !pp.proposal.txs.empty()) {
        return Status::InvalidArgument(
            "pre_prepare has both transaction_ids and proposal.transactions; the compact form "
            "carries the ids only");
      }
      return consensus::Message(std::move(pp));
    }
    case pb::ConsensusMessage::kPrepare: {
      ERTR_ASSIGN_OR_RETURN(auto p, VoteFromWire<consensus::Prepare>(m.prepare()));
      return consensus::Message(p);
    }
    case pb::ConsensusMessage::kCommit: {
      ERTR_ASSIGN_OR_RETURN(auto c, VoteFromWire<consensus::Commit>(m.commit()));
      return consensus::Message(c);
    }
    case pb::ConsensusMessage::kCheckpoint: {
      ERTR_ASSIGN_OR_RETURN(auto c, FromWire(m.checkpoint()));
      return consensus::Message(c);
    }
    case pb::ConsensusMessage::kViewChange: {
      ERTR_ASSIGN_OR_RETURN(auto vc, FromWire(m.view_change(), tx_id));
      return consensus::Message(std::move(vc));
    }
    case pb::ConsensusMessage::kNewView: {
      consensus::NewView nv;
      nv.view = View(m.new_view().view());
      if (m.new_view().view_changes_size() > 256) {
        return TooMany("new_view.view_changes", m.new_view().view_changes_size());
      }
      for (const auto& w : m.new_view().view_changes()) {
        ERTR_ASSIGN_OR_RETURN(auto vc, FromWire(w, tx_id));
        nv.view_changes.push_back(std::move(vc));
      }
      nv.sender = ReplicaId(m.new_view().sender());
      ERTR_ASSIGN_OR_RETURN(
          nv.signature, Fixed<crypto::Signature>(m.new_view().signature(), "new_view.signature"));
      return consensus::Message(std::move(nv));
    }
    case pb::ConsensusMessage::kFetchTransactions: {
      const auto& w = m.fetch_transactions();
      consensus::FetchTransactions f;
      ERTR_RETURN_IF_ERROR(FetchFieldsFromWire(w, "fetch_transactions", f));
      ERTR_ASSIGN_OR_RETURN(f.ids,
                            IdsFromWire(w.transaction_ids(), "fetch_transactions.transaction_ids"));
      return consensus::Message(std::move(f));
    }
    case pb::ConsensusMessage::kFetchedTransactions: {
      const auto& w = m.fetched_transactions();
      consensus::FetchedTransactions f;
      ERTR_RETURN_IF_ERROR(FetchFieldsFromWire(w, "fetched_transactions", f));
      ERTR_ASSIGN_OR_RETURN(f.txs,
                            TransactionsWithIds(w.transactions(), tx_id, kMaxBlockTransactions,
                                                "fetched transaction"));
      return consensus::Message(std::move(f));
    }
    case pb::ConsensusMessage::kFetchProposal: {
      consensus::FetchProposal f;
      ERTR_RETURN_IF_ERROR(FetchFieldsFromWire(m.fetch_proposal(), "fetch_proposal", f));
      return consensus::Message(f);
    }
    case pb::ConsensusMessage::kFetchedProposal: {
      const auto& w = m.fetched_proposal();
      consensus::FetchedProposal f;
      f.view = View(w.view());
      ERTR_ASSIGN_OR_RETURN(f.proposal, FromWire(w.proposal(), tx_id));
      f.sender = ReplicaId(w.sender());
      return consensus::Message(std::move(f));
    }
    case pb::ConsensusMessage::KIND_NOT_SET:
      break;
  }
  return Status::InvalidArgument("consensus message has no kind; set one of its fields");
}

Bytes EncodeReplicaState(const consensus::PersistentState& state) {
  pb::ReplicaState m;
  m.set_view(state.view.value());
  m.set_view_changing(state.view_changing);
  for (const auto& [key, digest] : state.signed_votes) {
    auto* v = m.add_signed_votes();
    v->set_view(key.first.value());
    v->set_height(key.second.value());
    v->set_digest(ToString(digest.span()));
  }
  m.set_stable_height(state.stable_height.value());
  m.set_stable_root(ToString(state.stable_root.span()));
  for (const auto& c : state.checkpoint_proof) ToWire(c, *m.add_checkpoint_proof());
  m.set_vote_horizon_view(state.vote_horizon.first.value());
  m.set_vote_horizon_height(state.vote_horizon.second.value());
  return Serialize(m);
}

Bytes EncodePreparedCertificate(const consensus::PreparedCertificate& pc) {
  pb::PreparedCertificate m;
  ToWire(pc, m);
  return Serialize(m);
}

Bytes EncodePreparedCertificateWithoutTransactions(const consensus::PreparedCertificate& pc) {
  pb::PreparedCertificate m;
  ToWire(pc, m, false);
  return Serialize(m);
}

Result<consensus::PreparedCertificate> DecodePreparedCertificate(ByteSpan bytes) {
  pb::PreparedCertificate m;
  ERTR_RETURN_IF_ERROR(Parse(m, bytes, "prepared certificate", kMaxConsensusMessageBytes));
  return FromWire(m, PeekTransactionId);
}

Bytes EncodeCheckpointProof(const consensus::CheckpointProof& proof) {
  pb::CheckpointProof m;
  m.set_height(proof.height.value());
  m.set_state_root(ToString(proof.state_root.span()));
  for (const auto& c : proof.checkpoints) ToWire(c, *m.add_checkpoints());
  return Serialize(m);
}

Result<consensus::CheckpointProof> DecodeCheckpointProof(ByteSpan bytes) {
  pb::CheckpointProof m;
  ERTR_RETURN_IF_ERROR(Parse(m, bytes, "checkpoint proof", kMaxConsensusMessageBytes));
  consensus::CheckpointProof proof;
  proof.height = Height(m.height());
  ERTR_ASSIGN_OR_RETURN(proof.state_root,
                        Fixed<crypto::Digest>(m.state_root(), "checkpoint_proof.state_root"));
  ERTR_ASSIGN_OR_RETURN(proof.checkpoints,
                        CheckpointsFromWire(m.checkpoints(), "checkpoint_proof.checkpoints"));
  return proof;
}

Result<consensus::PersistentState> DecodeReplicaState(ByteSpan bytes) {
  pb::ReplicaState m;
  ERTR_RETURN_IF_ERROR(Parse(m, bytes, "replica state", kMaxConsensusMessageBytes));
  consensus::PersistentState s;
  s.view = View(m.view());
  s.view_changing = m.view_changing();
  for (const auto& v : m.signed_votes()) {
    ERTR_ASSIGN_OR_RETURN(auto d, Fixed<crypto::Digest>(v.digest(), "replica_state.signed_votes"));
    s.signed_votes[{View(v.view()), Height(v.height())}] = d;
  }
  for (const auto& w : m.prepared()) {
    ERTR_ASSIGN_OR_RETURN(auto pc, FromWire(w, PeekTransactionId));
    s.prepared[pc.proposal.header.height] = std::move(pc);
  }
  s.stable_height = Height(m.stable_height());
  ERTR_ASSIGN_OR_RETURN(s.stable_root,
                        Fixed<crypto::Digest>(m.stable_root(), "replica_state.stable_root"));
  ERTR_ASSIGN_OR_RETURN(s.checkpoint_proof, CheckpointsFromWire(m.checkpoint_proof(),
                                                                "replica_state.checkpoint_proof"));
  s.vote_horizon = {View(m.vote_horizon_view()), Height(m.vote_horizon_height())};
  return s;
}

}  // namespace ertr::proto
