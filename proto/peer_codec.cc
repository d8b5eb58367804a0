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
};

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
        return TooLarge("peer message transaction count",
                        static_cast<std::size_t>(t.transactions_size()), kMaxGossipTransactions);
      }
      if (static_cast<std::size_t>(t.blobs_size()) > kMaxGossipTransactions) {
        return TooLarge("peer message blob count", static_cast<std::size_t>(t.blobs_size()),
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
        return TooLarge("block response block count",
                        static_cast<std::size_t>(m.block_response().blocks_size()), kMaxSyncBlocks);
      }
      return PeerMessage(PeerBlockResponse{ToBytesList(m.block_response().blocks())});
    case pb::PeerMessage::kStatus:
      return PeerMessage(PeerStatus{Height(m.status().height()), View(m.status().view())});
    case pb::PeerMessage::kBlobHave: {
      if (static_cast<std::size_t>(m.blob_have().digests_size()) > kMaxBlobHaveDigests) {
        return TooLarge("blob have digest count",
                        static_cast<std::size_t>(m.blob_have().digests_size()),
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
    case pb::PeerMessage::BODY_NOT_SET:
      break;
  }
  return Status::InvalidArgument("peer message has no body");
}

}  // namespace ertr::proto
