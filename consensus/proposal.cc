#include "consensus/proposal.h"

#include "crypto/merkle.h"

namespace ertr::consensus {

Bytes CanonicalHeaderBytes(const ProposalHeader& h) {
  Bytes out;
  out.reserve(1 + h.chain_id.size() + 8 + 8 + 4 + 32 + 4);
  PutU8(out, static_cast<std::uint8_t>(h.chain_id.size()));
  Append(out, AsBytes(h.chain_id));
  PutU64Le(out, h.height.value());
  PutU64Le(out, h.time_ms);
  PutU32Le(out, h.proposer.value());
  Append(out, h.tx_root.span());
  PutU32Le(out, h.tx_count);
  return out;
}

crypto::Digest ProposalDigest(const ProposalHeader& header) {
  return crypto::DomainHash("ertr/block/v1", CanonicalHeaderBytes(header));
}

TxList::TxList(std::vector<Transaction> txs)
    : txs_(txs.empty() ? nullptr
                       : std::make_shared<const std::vector<Transaction>>(std::move(txs))) {}

const std::vector<Transaction>& TxList::Empty() {
  static const std::vector<Transaction> empty;
  return empty;
}

crypto::Digest TransactionLeaf(ByteSpan transaction_bytes) {
  return crypto::DomainHash("ertr/txleaf/v1", transaction_bytes);
}

namespace {

// The Merkle root over the leaves of `items`, each item's bytes given by `bytes_of`.
template <typename Item, typename BytesOf>
crypto::Digest RootOver(const std::vector<Item>& items, BytesOf bytes_of) {
  std::vector<crypto::Digest> leaves;
  leaves.reserve(items.size());
  for (const auto& item : items) leaves.push_back(TransactionLeaf(bytes_of(item)));
  return crypto::MerkleRoot(leaves);
}

}  // namespace

crypto::Digest TransactionRoot(const std::vector<Transaction>& txs) {
  return RootOver(txs, [](const Transaction& tx) -> ByteSpan { return tx.bytes; });
}

crypto::Digest TransactionRoot(const std::vector<Bytes>& transaction_bytes) {
  return RootOver(transaction_bytes, [](const Bytes& bytes) -> ByteSpan { return bytes; });
}

Proposal MakeProposal(std::string chain_id, Height height, std::uint64_t time_ms,
                      ReplicaId proposer, std::vector<Transaction> txs) {
  Proposal p;
  p.header.chain_id = std::move(chain_id);
  p.header.height = height;
  p.header.time_ms = time_ms;
  p.header.proposer = proposer;
  p.header.tx_root = TransactionRoot(txs);
  p.header.tx_count = static_cast<std::uint32_t>(txs.size());
  p.txs = std::move(txs);
  p.digest = ProposalDigest(p.header);
  return p;
}

Status CheckProposal(const Proposal& p) {
  if (p.header.tx_count != p.txs.size()) {
    return Status::InvalidArgument("proposal at height " + p.header.height.ToString() + " says " +
                                   std::to_string(p.header.tx_count) +
                                   " transactions but carries " + std::to_string(p.txs.size()));
  }
  if (TransactionRoot(p.txs) != p.header.tx_root) {
    return Status::InvalidArgument("proposal at height " + p.header.height.ToString() +
                                   ": transactions do not match tx_root");
  }
  if (ProposalDigest(p.header) != p.digest) {
    return Status::InvalidArgument("proposal at height " + p.header.height.ToString() +
                                   ": digest does not match its header");
  }
  return Status::Ok();
}

}  // namespace ertr::consensus
