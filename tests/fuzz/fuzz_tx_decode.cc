// Fuzz target: any bytes given to the transaction decoders never crash; a decoded transaction
// keeps its body bytes through a re-encode, the envelope scan finds the same id, and decoding
// with that id (the mempool's shortcut) decodes exactly what the plain decoder does. Admission
// takes only canonical bytes: encoding what it decoded gives back the input, byte for byte, and
// the body is what the ledger's own encoder makes of its decoded header and payload (so no byte
// of a transaction on chain is outside what the chain code reads).
#include <algorithm>
#include <cstdlib>

#include "proto/codec.h"
#include "proto/ledger_codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ertr::ByteSpan in(data, size);
  (void)ertr::proto::DecodeTransactionHeader(in);
  auto tx = ertr::proto::DecodeSignedTransaction(in);
  auto peeked = ertr::proto::PeekTransactionId(in);
  if (tx && (!peeked || *peeked != tx->id)) std::abort();  // the duplicate check's shortcut
  if (peeked) {
    auto plain = ertr::proto::DecodeTransaction(in);
    auto quick = ertr::proto::DecodeTransaction(in, *peeked);
    if (plain.has_value() != quick.has_value()) std::abort();
    if (plain) {
      const auto& a = plain->signed_tx;
      const auto& b = quick->signed_tx;
      if (a.id != b.id || a.body != b.body || a.signature != b.signature ||
          a.header.chain_id != b.header.chain_id || a.header.signer != b.header.signer ||
          a.header.nonce != b.header.nonce || a.header.payload != b.header.payload ||
          plain->payload.has_value() != quick->payload.has_value() ||
          (plain->payload && plain->payload->index() != quick->payload->index())) {
        std::abort();
      }
    }
  }
  if (tx) {
    auto again = ertr::proto::DecodeSignedTransaction(ertr::proto::EncodeSignedTransaction(*tx));
    if (!again || again->body != tx->body || again->id != tx->id) std::abort();
  }
  auto admitted = ertr::proto::DecodeTransactionToAdmit(in, nullptr);
  if (admitted) {
    if (!tx || admitted->signed_tx.id != tx->id) std::abort();
    const ertr::Bytes encoded = ertr::proto::EncodeSignedTransaction(admitted->signed_tx);
    if (encoded.size() != size || !std::equal(encoded.begin(), encoded.end(), data)) std::abort();
    if (admitted->payload && ertr::proto::EncodeTransactionBody(admitted->signed_tx.header,
                                                                *admitted->payload) != tx->body) {
      std::abort();
    }
  }
  return 0;
}
