// Fuzz target: peer messages, a checkpoint proof (state transfer, ADR 0037), the node's persisted
// replica state (its state entry and prepared certificates, ADR 0010) and node config text,
// whatever the bytes, never crash their decoders; a decoded peer message or checkpoint proof
// re-encodes to what decodes alike.
#include <cstdlib>

#include "node/ceremony.h"
#include "node/config.h"
#include "proto/consensus_codec.h"
#include "proto/peer_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ertr;
  ByteSpan in(data, size);
  auto m = proto::DecodePeerMessage(in);
  if (m) {
    auto again = proto::DecodePeerMessage(proto::EncodePeerMessage(*m));
    if (!again || again->index() != m->index()) std::abort();
  }
  if (auto proof = proto::DecodeCheckpointProof(in)) {
    auto again = proto::DecodeCheckpointProof(proto::EncodeCheckpointProof(*proof));
    if (!again || again->height != proof->height || again->state_root != proof->state_root ||
        again->checkpoints.size() != proof->checkpoints.size()) {
      std::abort();
    }
  }
  (void)proto::DecodeReplicaState(in);
  if (auto pc = proto::DecodePreparedCertificate(in)) {
    // What the consensus log stores decodes back to the same proposal.
    auto again = proto::DecodePreparedCertificate(proto::EncodePreparedCertificate(*pc));
    if (!again || again->proposal.digest != pc->proposal.digest) std::abort();
  }
  (void)node::ParseNodeConfig(AsStringView(in), "/tmp", "config.toml");
  (void)node::ParseMember(AsStringView(in), "member.toml");
  (void)ParseHostPort(AsStringView(in), "fuzz");
  return 0;
}
