#include "proto/peer_codec.h"

#include "ertr/net/v1/peer.pb.h"
#include "proto/wire_helpers.h"

namespace ertr::proto {

using namespace wire;
namespace pb = ertr::net::v1;

namespace {

std::vector<Bytes> ToBytesList(const google::protobuf::RepeatedPtrField<std::string>& list) {
  std::vector<Bytes> out;
  out.reserve(static_cast<std::size_t>(list.size()));
  for (const auto& s : list) out.push_back(ToBytes(s));
  return out;
}

struct ToWireVisitor {
  pb::PeerMessage& m;
  void operator()(const PeerConsensus& c) const { m.set_consensus(ToString(c.message)); }
  void operator()(const PeerTransactions& t) const {
    auto* w = m.mutable_transactions();
    for (const auto& tx : t.transactions) w->add_transactions(ToString(tx));
    for (const auto& blob : t.blobs) w->add_blobs(ToString(blob));
  }
  void operator()(const PeerBlockRequest& r) const {
    m.mutable_block_request()->set_from_height(r.from.value());
    m.mutable_block_request()->set_max_blocks(r.max_blocks);
  }
  void operator()(const PeerBlockResponse& r) const {
    auto* w = m.mutable_block_response();
    for (const auto& b : r.blocks) w->add_blocks(ToString(b));
  }
  void operator()(const PeerStatus& s) const {
    m.mutable_status()->set_height(s.height.value());
    m.mutable_status()->set_view(s.view.value());
  }
  void operator()(const PeerBlobHave& h) const {
    auto* w = m.mutable_blob_have();
    for (const auto& d : h.digests) w->add_digests(ToString(d.span()));
    for (std::uint64_t size : h.sizes) w->add_sizes(size);
  }
  void operator()(const PeerBlobRequest& r) const {
    m.mutable_blob_request()->set_digest(ToString(r.digest.span()));
    m.mutable_blob_request()->set_offset(r.offset);
    m.mutable_blob_request()->set_pull_id(r.pull_id);
  }
  void operator()(const PeerBlobChunk& c) const {
    auto* w = m.mutable_blob_chunk();
    w->set_digest(ToString(c.digest.span()));
    w->set_offset(c.offset);
    w->set_total_size(c.total_size);
    w->set_data(ToString(c.data));
    w->set_pull_id(c.pull_id);
  }
  void operator()(const PeerBlobPush& p) const {
    auto* w = m.mutable_blob_push();
    w->set_push_id(p.push_id);
    w->set_offset(p.offset);
    w->set_data(ToString(p.data));
    w->set_last(p.last);
    w->set_abort(p.abort);
  }
  void operator()(const PeerBlobPushAck& a) const {
    auto* w = m.mutable_blob_push_ack();
    w->set_push_id(a.push_id);
    w->set_written(a.written);
    w->set_refused(a.refused);
  }
  void operator()(const PeerStateProofRequest&) const { m.mutable_state_proof_request(); }
  void operator()(const PeerStateProof& p) const {
    m.mutable_state_proof()->set_checkpoint_proof(ToString(p.checkpoint_proof));
  }
  void operator()(const PeerStatePageRequest& r) const {
    auto* w = m.mutable_state_page_request();
    w->set_height(r.height.value());
    w->set_after_key(ToString(r.after_key));
    w->set_max_bytes(r.max_bytes);
  }
  void operator()(const PeerStatePage& p) const {
    auto* w = m.mutable_state_page();
    w->set_height(p.height.value());
    w->set_after_key(ToString(p.after_key));
    for (const auto& [key, value] : p.entries) {
      auto* e = w->add_entries();
      e->set_key(ToString(key));
      e->set_value(ToString(value));
    }
    w->set_more(p.more);
    w->set_not_held(p.not_held);
  }
};

Result<PeerMessage> StatePageFromWire(const pb::StatePage& p) {
  if (p.height() == 0) {
    return Status::InvalidArgument("field 'state_page.height' is 0; the genesis state is not sent");
  }
  if (static_cast<std::size_t>(p.entries_size()) > kMaxStatePageEntries) {
    return TooMany("state page entry", static_cast<std::size_t>(p.entries_size()),
                   kMaxStatePageEntries);
  }
  if (p.not_held() && (p.entries_size() != 0 || p.more())) {
    return Status::InvalidArgument(
        "state_page has 'not_held' set with entries or 'more'; a refusal carries neither");
  }
  if (!p.not_held() && p.entries_size() == 0) {
    return Status::InvalidArgument(
        "state_page has no entries and no 'not_held'; a page holds at least one entry");
  }
  if (p.after_key().size() > kMaxStateKeyBytes) {
    return TooLarge("state_page.after_key", p.after_key().size(), kMaxStateKeyBytes);
  }
  PeerStatePage page;
  page.height = Height(p.height());
  page.after_key = ToBytes(p.after_key());
  page.entries.reserve(static_cast<std::size_t>(p.entries_size()));
  for (int i = 0; i < p.entries_size(); ++i) {
    const auto& e = p.entries(i);
    if (e.key().empty() || e.key().size() > kMaxStateKeyBytes) {
      return Status::InvalidArgument("field 'state_page.entries[" + std::to_string(i) +
                                     "].key' has " + std::to_string(e.key().size()) +
                                     " bytes; state keys have 1 to " +
                                     std::to_string(kMaxStateKeyBytes));
    }
    page.entries.emplace_back(ToBytes(e.key()), ToBytes(e.value()));
  }
  page.more = p.more();
  page.not_held = p.not_held();
  return PeerMessage(std::move(page));
}

}  // namespace

Bytes EncodePeerMessage(const PeerMessage& message) {
  pb::PeerMessage m;
  std::visit(ToWireVisitor{m}, message);
  return Serialize(m);
}

Result<PeerMessage> DecodePeerMessage(ByteSpan bytes) {
  pb::PeerMessage m;
  ERTR_RETURN_IF_ERROR(Parse(m, bytes, "peer message", kMaxPeerMessageBytes));
  switch (m.body_case()) {
    case pb::PeerMessage::kConsensus:
      return PeerMessage(PeerConsensus{ToBytes(m.consensus())});
    case pb::PeerMessage::kTransactions: {
      const auto& t = m.transactions();
      if (static_cast<std::size_t>(t.transactions_size()) > kMaxGossipTransactions) {
        return TooMany("peer message transaction", static_cast<std::size_t>(t.transactions_size()),
                       kMaxGossipTransactions);
      }
      if (static_cast<std::size_t>(t.blobs_size()) > kMaxGossipTransactions) {
        return TooMany("peer message blob", static_cast<std::size_t>(t.blobs_size()),
                       kMaxGossipTransactions);
      }
      for (const auto& blob : t.blobs()) {
        if (blob.size() > kMaxOfferedBlobBytes) {
          return TooLarge("transactions.blobs entry", blob.size(), kMaxOfferedBlobBytes);
        }
      }
      return PeerMessage(PeerTransactions{ToBytesList(t.transactions()), ToBytesList(t.blobs())});
    }
    case pb::PeerMessage::kBlockRequest:
      if (m.block_request().from_height() == 0) {
        return Status::InvalidArgument("block request field 'from_height' is 0; blocks start at 1");
      }
      return PeerMessage(PeerBlockRequest{
          Height(m.block_request().from_height()),
          std::min<std::uint32_t>(m.block_request().max_blocks(), kMaxSyncBlocks)});
    case pb::PeerMessage::kBlockResponse:
      if (static_cast<std::size_t>(m.block_response().blocks_size()) > kMaxSyncBlocks) {
        return TooMany("block response block",
                       static_cast<std::size_t>(m.block_response().blocks_size()), kMaxSyncBlocks);
      }
      return PeerMessage(PeerBlockResponse{ToBytesList(m.block_response().blocks())});
    case pb::PeerMessage::kStatus:
      return PeerMessage(PeerStatus{Height(m.status().height()), View(m.status().view())});
    case pb::PeerMessage::kBlobHave: {
      if (static_cast<std::size_t>(m.blob_have().digests_size()) > kMaxBlobHaveDigests) {
        return TooMany("blob have digest", static_cast<std::size_t>(m.blob_have().digests_size()),
                       kMaxBlobHaveDigests);
      }
      const auto& sizes = m.blob_have().sizes();
      if (!sizes.empty() && sizes.size() != m.blob_have().digests_size()) {
        return Status::InvalidArgument(
            "field 'blob_have.sizes' has " + std::to_string(sizes.size()) +
            " entries but 'blob_have.digests' has " + std::to_string(m.blob_have().digests_size()) +
            ": one size per digest, or none");
      }
      PeerBlobHave have;
      for (const auto& d : m.blob_have().digests()) {
        ERTR_ASSIGN_OR_RETURN(auto digest, Fixed<crypto::Digest>(d, "blob_have.digests"));
        have.digests.push_back(digest);
      }
      for (std::uint64_t size : sizes) {
        if (size == 0) {
          return Status::InvalidArgument(
              "field 'blob_have.sizes' holds 0: no ciphertext is empty (a blob's size, or none)");
        }
        have.sizes.push_back(size);
      }
      return PeerMessage(std::move(have));
    }
    case pb::PeerMessage::kBlobRequest: {
      PeerBlobRequest r;
      ERTR_ASSIGN_OR_RETURN(
          r.digest, Fixed<crypto::Digest>(m.blob_request().digest(), "blob_request.digest"));
      r.offset = m.blob_request().offset();
      r.pull_id = m.blob_request().pull_id();
      return PeerMessage(r);
    }
    case pb::PeerMessage::kBlobChunk: {
      const auto& c = m.blob_chunk();
      if (c.data().size() > kMaxBlobChunkBytes) {
        return TooLarge("blob chunk", c.data().size(), kMaxBlobChunkBytes);
      }
      PeerBlobChunk chunk;
      ERTR_ASSIGN_OR_RETURN(chunk.digest, Fixed<crypto::Digest>(c.digest(), "blob_chunk.digest"));
      chunk.offset = c.offset();
      chunk.total_size = c.total_size();
      chunk.data = ToBytes(c.data());
      chunk.pull_id = c.pull_id();
      return PeerMessage(std::move(chunk));
    }
    case pb::PeerMessage::kBlobPush: {
      const auto& p = m.blob_push();
      if (p.data().size() > kMaxBlobPushBytes) {
        return TooLarge("blob_push.data", p.data().size(), kMaxBlobPushBytes);
      }
      if (p.abort() && (p.last() || !p.data().empty())) {
        return Status::InvalidArgument(
            "blob_push has 'abort' set with 'last' or 'data'; an abort carries neither");
      }
      return PeerMessage(
          PeerBlobPush{p.push_id(), p.offset(), ToBytes(p.data()), p.last(), p.abort()});
    }
    case pb::PeerMessage::kBlobPushAck: {
      const auto& a = m.blob_push_ack();
      return PeerMessage(PeerBlobPushAck{a.push_id(), a.written(), a.refused()});
    }
    case pb::PeerMessage::kStateProofRequest:
      return PeerMessage(PeerStateProofRequest{});
    case pb::PeerMessage::kStateProof:
      return PeerMessage(PeerStateProof{ToBytes(m.state_proof().checkpoint_proof())});
    case pb::PeerMessage::kStatePageRequest: {
      const auto& r = m.state_page_request();
      if (r.height() == 0) {
        return Status::InvalidArgument(
            "field 'state_page_request.height' is 0; the genesis state is not sent");
      }
      if (r.after_key().size() > kMaxStateKeyBytes) {
        return TooLarge("state_page_request.after_key", r.after_key().size(), kMaxStateKeyBytes);
      }
      const std::uint32_t max = r.max_bytes() == 0 || r.max_bytes() > kMaxStatePageBytes
                                    ? static_cast<std::uint32_t>(kMaxStatePageBytes)
                                    : r.max_bytes();
      return PeerMessage(PeerStatePageRequest{Height(r.height()), ToBytes(r.after_key()), max});
    }
    case pb::PeerMessage::kStatePage:
      return StatePageFromWire(m.state_page());
    case pb::PeerMessage::BODY_NOT_SET:
      break;
  }
  return Status::InvalidArgument("peer message has no body");
}

}  // namespace ertr::proto
