// Fuzz target: any bytes given to the consensus message decoder never crash; a decoded message
// re-encodes to bytes that decode to a message of the same kind and sender.
#include <cstdlib>

#include "crypto/hash.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto id = [](ertr::ByteSpan b) -> ertr::Result<ertr::crypto::Digest> {
    return ertr::crypto::Hash(b);
  };
  auto m = ertr::proto::DecodeConsensusMessage(ertr::ByteSpan(data, size), id);
  if (m) {
    auto again = ertr::proto::DecodeConsensusMessage(ertr::proto::EncodeConsensusMessage(*m), id);
    if (!again || again->index() != m->index() ||
        ertr::consensus::MessageSender(*again) != ertr::consensus::MessageSender(*m)) {
      std::abort();
    }
  }
  // The same bytes decoded as the node decodes them, with its id function (the envelope scan).
  (void)ertr::proto::DecodeConsensusMessage(ertr::ByteSpan(data, size),
                                            ertr::proto::PeekTransactionId);
  return 0;
}
