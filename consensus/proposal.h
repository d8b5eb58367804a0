#pragma once

// What consensus orders and certifies: a proposal (block) at a height. Its header holds only what
// the primary knows when it proposes, so proposals can be pipelined and a proposal re-issued after
// a view change keeps its digest (docs/spec/consensus.md section 2, ADR 0004):
//
//   canonical = u8(len(chain_id)) || chain_id || u64le(height) || u64le(time_ms) ||
//               u32le(proposer) || tx_root (32) || u32le(tx_count)
//   block hash (proposal digest) = BLAKE2b-256("ertr/block/v1" || 0x00 || canonical)
//
// tx_root is the Merkle root (crypto/merkle.h) of the transactions' leaves in order, a leaf being
// the hash of a transaction's whole bytes (TransactionLeaf): the certificate covers every byte
// that nodes store, execute and serve, signatures included (ADR 0038). State roots are agreed
// separately, by checkpoint certificates every K heights.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/status.h"
#include "crypto/hash.h"

namespace ertr::consensus {

struct ProposalHeader {
  std::string chain_id;
  Height height;
  std::uint64_t time_ms = 0;  // the primary's proposed time; effective time: docs/spec/consensus.md
  ReplicaId proposer;
  crypto::Digest tx_root;
  std::uint32_t tx_count = 0;
  bool operator==(const ProposalHeader&) const = default;
};

// A transaction as consensus sees it: opaque bytes and the id the node computed for them.
struct Transaction {
  // ledger::TransactionId of the body in `bytes`, always computed by this node from the bytes
  // (admission, or the decoders of proposals, blocks and the consensus log), never taken from a
  // peer: the node decodes decided transactions with it instead of hashing them again.
  crypto::Digest id;
  Bytes bytes;
  bool operator==(const Transaction&) const = default;
};

// A proposal's transactions, immutable once built and shared by every copy of the proposal (its
// PRE-PREPARE, the slot, the prepared certificate, the Deliver action, the driver's snapshot of
// the persistent state): copying a proposal of thousands of transactions costs a reference count,
// not a copy of each transaction's bytes. It reads like a const std::vector<Transaction>; to
// change transactions (a test forging a proposal), take a copy with ToVector() and build anew.
// Thread-safety: like a const std::vector; copies may be used and dropped on any thread.
class TxList {
 public:
  TxList() = default;
  // Implicit, so that a list is built wherever a vector of transactions is at hand.
  TxList(std::vector<Transaction> txs);  // NOLINT(google-explicit-constructor)

  const std::vector<Transaction>& vector() const { return txs_ ? *txs_ : Empty(); }
  operator const std::vector<Transaction>&() const { return vector(); }  // NOLINT
  std::size_t size() const { return vector().size(); }
  bool empty() const { return vector().empty(); }
  const Transaction& operator[](std::size_t i) const { return vector()[i]; }
  std::vector<Transaction>::const_iterator begin() const { return vector().begin(); }
  std::vector<Transaction>::const_iterator end() const { return vector().end(); }
  std::vector<Transaction> ToVector() const { return vector(); }
  bool operator==(const TxList& other) const {
    return txs_ == other.txs_ || vector() == other.vector();  // copies of one list: at once
  }

 private:
  static const std::vector<Transaction>& Empty();
  std::shared_ptr<const std::vector<Transaction>> txs_;  // null when empty
};

struct Proposal {
  ProposalHeader header;
  TxList txs;
  crypto::Digest digest;  // ProposalDigest(header)
};

Bytes CanonicalHeaderBytes(const ProposalHeader& header);
crypto::Digest ProposalDigest(const ProposalHeader& header);
// DomainHash("ertr/txleaf/v1", bytes): a transaction's leaf in tx_root.
crypto::Digest TransactionLeaf(ByteSpan transaction_bytes);
crypto::Digest TransactionRoot(const std::vector<Transaction>& txs);
// The same from the transactions' bytes alone (a block as decoded from the wire).
crypto::Digest TransactionRoot(const std::vector<Bytes>& transaction_bytes);

// Builds a proposal, computing tx_root, tx_count and the digest.
Proposal MakeProposal(std::string chain_id, Height height, std::uint64_t time_ms,
                      ReplicaId proposer, std::vector<Transaction> txs);

// Checks that tx_count, tx_root and digest match the transactions. InvalidArgument otherwise.
Status CheckProposal(const Proposal& proposal);

}  // namespace ertr::consensus
