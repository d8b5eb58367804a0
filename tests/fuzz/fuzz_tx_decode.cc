// Fuzz target: any bytes given to the transaction decoders never crash; a decoded transaction
// keeps its body bytes through a re-encode, and the envelope scan finds the same id.
#include <cstdlib>

#include "proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ertr::ByteSpan in(data, size);
  (void)ertr::proto::DecodeTransactionHeader(in);
  auto tx = ertr::proto::DecodeSignedTransaction(in);
  auto peeked = ertr::proto::PeekTransactionId(in);
  if (tx && (!peeked || *peeked != tx->id)) std::abort();  // the duplicate check's shortcut
  if (tx) {
    auto again = ertr::proto::DecodeSignedTransaction(ertr::proto::EncodeSignedTransaction(*tx));
    if (!again || again->body != tx->body || again->id != tx->id) std::abort();
  }
  return 0;
}
