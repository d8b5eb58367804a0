// Fuzz target: any bytes given to the block decoders never crash, and a block that decodes
// re-encodes to bytes that decode to the same block hash, and its transactions' bytes as received
// make a body that decodes to the same ids and splits back into the same bytes.
#include <cstdlib>
#include <vector>

#include "proto/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  ertr::ByteSpan in(data, size);
  (void)ertr::proto::DecodeBlockHeader(in);
  (void)ertr::proto::DecodeCommitCertificate(in);
  (void)ertr::proto::DecodeBlockBody(in);
  // A staged body (ADR 0025) splits into transactions that encode back to the same bytes.
  if (auto raw = ertr::proto::DecodeBlockBodyTransactions(in)) {
    auto split = ertr::proto::DecodeBlockBodyTransactions(ertr::proto::EncodeBlockBody(*raw));
    if (!split || *split != *raw) std::abort();
  }
  auto block = ertr::proto::DecodeBlock(in);
  if (block) {
    auto again = ertr::proto::DecodeBlock(ertr::proto::EncodeBlock(*block));
    if (!again || again->hash != block->hash ||
        again->transactions.size() != block->transactions.size()) {
      std::abort();
    }
    if (block->transaction_bytes.size() != block->transactions.size()) std::abort();
    std::vector<ertr::consensus::Transaction> txs;
    for (std::size_t i = 0; i < block->transactions.size(); ++i) {
      txs.push_back({block->transactions[i].id, block->transaction_bytes[i]});
    }
    auto body = ertr::proto::DecodeBlockBody(ertr::proto::EncodeBlockBody(txs));
    if (!body || body->size() != txs.size()) std::abort();
    for (std::size_t i = 0; i < txs.size(); ++i) {
      if ((*body)[i].id != txs[i].id) std::abort();
    }
    auto restored = ertr::proto::DecodeBlockBodyTransactions(ertr::proto::EncodeBlockBody(txs));
    if (!restored || *restored != txs) std::abort();
  }
  return 0;
}
