#pragma once

// Peer messages between validators (proto/ertr/net/v1/peer.proto, docs/spec/wire.md section 4).
// Decoding accepts any bytes, bounds counts and sizes, and names the field that is wrong.

#include <utility>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::proto {

inline constexpr std::size_t kMaxPeerMessageBytes = 16u << 20;  // = net::kMaxFrameBytes
inline constexpr std::size_t kMaxSyncBlocks = 64;
inline constexpr std::size_t kMaxGossipTransactions = 4096;
inline constexpr std::size_t kMaxBlobHaveDigests = 4096;
inline constexpr std::size_t kMaxBlobChunkBytes = 1u << 20;
// A push carries one upload chunk's ciphertext: at most 4 MiB of plaintext, and its overheads.
inline constexpr std::size_t kMaxBlobPushBytes = 5u << 20;
// A blob sent along with gossip is a small one (storage::kSmallBlobBytes).
inline constexpr std::size_t kMaxOfferedBlobBytes = 64u << 10;
// State transfer's pages (ADR 0037): a page's budget, what each entry counts against it besides
// its key and value (storage::kStatePageEntryOverhead), and so the most entries a page can hold.
inline constexpr std::size_t kMaxStatePageBytes = 4u << 20;
inline constexpr std::size_t kStatePageEntryBytes = 32;
inline constexpr std::size_t kMaxStatePageEntries = kMaxStatePageBytes / kStatePageEntryBytes;
inline constexpr std::size_t kMaxStateKeyBytes = 1024;  // storage::kMaxStateKeySize

struct PeerConsensus {
  Bytes message;  // an encoded consensus message (proto/consensus_codec.h)
};
struct PeerTransactions {
  std::vector<Bytes> transactions;  // encoded SignedTransactions
  // Small blobs that record transactions of the message name (each at most kMaxOfferedBlobBytes,
  // at most kMaxGossipTransactions of them), offered by their uploader.
  std::vector<Bytes> blobs;
};
struct PeerBlockRequest {
  Height from;
  std::uint32_t max_blocks = 0;
};
struct PeerBlockResponse {
  std::vector<Bytes> blocks;  // encoded ertr.v1.Block
};
struct PeerStatus {
  Height height;
  View view;
};
struct PeerBlobHave {
  std::vector<crypto::Digest> digests;
  // Each blob's ciphertext size, in the order of `digests` (never 0); empty when the sender gave
  // none (an older node).
  std::vector<std::uint64_t> sizes = {};
};
struct PeerBlobRequest {
  crypto::Digest digest;
  std::uint64_t offset = 0;
  std::uint64_t pull_id = 0;  // the puller's, for this pull; 0: not given
};
struct PeerBlobChunk {
  crypto::Digest digest;
  std::uint64_t offset = 0;
  std::uint64_t total_size = 0;
  Bytes data;
  std::uint64_t pull_id = 0;  // the request's
};
// A large upload's ciphertext, streamed to a first holder while it arrives (wire.md section 5).
struct PeerBlobPush {
  std::uint64_t push_id = 0;
  std::uint64_t offset = 0;
  Bytes data;  // at most kMaxBlobPushBytes; none with abort
  bool last = false;
  bool abort = false;
};
struct PeerBlobPushAck {
  std::uint64_t push_id = 0;
  std::uint64_t written = 0;
  bool refused = false;
};
// State transfer (wire.md section 4, ADR 0037).
struct PeerStateProofRequest {};
struct PeerStateProof {
  Bytes checkpoint_proof;  // an encoded CheckpointProof (consensus_codec.h); empty: none served
};
struct PeerStatePageRequest {
  Height height;
  Bytes after_key;              // empty: from the first entry
  std::uint32_t max_bytes = 0;  // decoded: 1..kMaxStatePageBytes (0 on the wire is the maximum)
};
struct PeerStatePage {
  Height height;
  Bytes after_key;                               // the request's
  std::vector<std::pair<Bytes, Bytes>> entries;  // non-empty keys; none only when not_held
  bool more = false;
  bool not_held = false;
};
using PeerMessage =
    std::variant<PeerConsensus, PeerTransactions, PeerBlockRequest, PeerBlockResponse, PeerStatus,
                 PeerBlobHave, PeerBlobRequest, PeerBlobChunk, PeerBlobPush, PeerBlobPushAck,
                 PeerStateProofRequest, PeerStateProof, PeerStatePageRequest, PeerStatePage>;

Bytes EncodePeerMessage(const PeerMessage& message);
Result<PeerMessage> DecodePeerMessage(ByteSpan bytes);

}  // namespace ertr::proto
