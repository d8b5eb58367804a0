// Fuzz target: any bytes given to the block decoders never crash, and a block that decodes
// re-encodes to bytes that decode to the same block hash.
#include <cstdlib>

#include "proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ertr::ByteSpan in(data, size);
  (void)ertr::proto::DecodeBlockHeader(in);
  (void)ertr::proto::DecodeCommitCertificate(in);
  (void)ertr::proto::DecodeBlockBody(in);
  auto block = ertr::proto::DecodeBlock(in);
  if (block) {
    auto again = ertr::proto::DecodeBlock(ertr::proto::EncodeBlock(*block));
    if (!again || again->hash != block->hash ||
        again->transactions.size() != block->transactions.size()) {
      std::abort();
    }
  }
  return 0;
}
