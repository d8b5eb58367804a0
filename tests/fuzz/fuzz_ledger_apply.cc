// Fuzz target: any bytes, decoded as a transaction with its typed payload and applied by the chain
// code to a small chain (signatures accepted, so that every payload rule is reached), never
// crash; the typed payload survives a re-encode; a block's writes always apply.
#include <cstdlib>

#include "ledger/chain_code.h"
#include "ledger/shape.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "storage/stores.h"
#include "tests/fuzz/fuzz_chain.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ertr;
  auto tx = proto::DecodeTransaction(ByteSpan(data, size));
  if (!tx) return 0;
  if (tx->payload) {
    (void)ledger::ValidateShape(*tx->payload);
    Bytes body = proto::EncodeTransactionBody(tx->signed_tx.header, *tx->payload);
    ledger::SignedTransaction again_signed = tx->signed_tx;
    again_signed.body = body;
    auto again = proto::DecodeTransaction(proto::EncodeSignedTransaction(again_signed));
    if (!again || !again->payload) std::abort();
    if (proto::EncodeTransactionBody(again->signed_tx.header, *again->payload) != body)
      std::abort();
  }
  static fuzz::FuzzChain chain;
  auto result = chain.Execute(*tx);
  if (!result || result->results.size() != 1) std::abort();
  return 0;
}
