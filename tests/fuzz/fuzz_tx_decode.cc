// Fuzz target: any bytes given to the transaction decoders never crash; a decoded transaction
// keeps its body bytes through a re-encode.
#include <cstdlib>

#include "proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ertr::ByteSpan in(data, size);
  (void)ertr::proto::DecodeTransactionHeader(in);
  auto tx = ertr::proto::DecodeSignedTransaction(in);
  if (tx) {
    auto again = ertr::proto::DecodeSignedTransaction(ertr::proto::EncodeSignedTransaction(*tx));
    if (!again || again->body != tx->body || again->id != tx->id) std::abort();
  }
  return 0;
}
