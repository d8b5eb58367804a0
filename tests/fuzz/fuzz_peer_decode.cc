// Fuzz target: peer messages, the node's persisted replica state (its state entry and prepared
// certificates, ADR 0010) and node config text, whatever
// the bytes, never crash their decoders; a decoded peer message re-encodes to what decodes alike.
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
