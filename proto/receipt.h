#pragma once

// Receipts (proto/ertr/v1/api.proto, Receipt; docs/api.md section 4): a portable proof that a
// transaction was decided in a block. Anyone holding the genesis checks one offline: the
// transaction's signature, the Merkle path of its leaf (the hash of its exact bytes, ADR 0038) to
// the header's tx_root, the header's hash, and 2f+1 commit votes of the genesis validators on
// that hash.

#include <optional>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/commit_certificate.h"
#include "consensus/proposal.h"
#include "ledger/types.h"

namespace ertr::proto {

inline constexpr const char* kReceiptFormat = "ertr-receipt/v1";

// The record metadata a receipt may carry (RecordInfo), as far as verification checks it.
struct ReceiptRecord {
  ledger::RecordId record_id;
  ledger::Pseudonym patient;
  ledger::RecordKind kind = ledger::RecordKind::kUnspecified;
  crypto::Digest ciphertext_digest;
  std::uint64_t ciphertext_size = 0;
  std::string uploader_institution_id;
};

// A serialized Receipt for transaction `index` of a stored block: `transaction` its bytes as
// decided, `block_leaves` the consensus::TransactionLeaf of each of the block's transactions in
// body order.
Result<Bytes> BuildReceipt(ByteSpan transaction, std::uint32_t index,
                           const std::vector<crypto::Digest>& block_leaves, ByteSpan block_header,
                           ByteSpan commit_certificate);

struct VerifiedReceipt {
  ledger::Transaction transaction;
  consensus::ProposalHeader header;
  crypto::Digest block_hash;
  std::size_t votes = 0;
  std::optional<ReceiptRecord> record;  // the SubmitRecord's metadata, when it is one
};

// Checks a serialized Receipt fully against the genesis. DataLoss names the first part that does
// not hold (a tampered or truncated receipt); InvalidArgument if it is not a receipt at all.
Result<VerifiedReceipt> VerifyReceipt(ByteSpan receipt, const ledger::Genesis& genesis,
                                      const crypto::Verifier& verifier);

}  // namespace ertr::proto
