#include "ledger/block.h"

#include "crypto/merkle.h"

namespace ertr::ledger {

crypto::Digest BlockHash(ByteSpan header_bytes) {
  return crypto::DomainHash("ertr/block/v1", header_bytes);
}

crypto::Digest TransactionRoot(const std::vector<SignedTransaction>& txs) {
  std::vector<crypto::Digest> ids;
  ids.reserve(txs.size());
  for (const auto& tx : txs) ids.push_back(tx.id);
  return crypto::MerkleRoot(ids);
}

}  // namespace ertr::ledger
