#pragma once

// Domain <-> wire codecs for the ledger's own formats (proto/ertr/v1). Every Decode accepts any
// bytes: it never crashes, bounds the input size first, and returns InvalidArgument naming the
// field that is wrong. Decoders check shape (sizes of keys, hashes and signatures, counts, that
// hashes and roots match the content); signatures and chain rules are checked by consensus/ and
// ledger/.

#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/commit_certificate.h"
#include "consensus/proposal.h"
#include "ledger/transaction.h"

namespace ertr::proto {

inline constexpr std::size_t kMaxTransactionBytes = 1 << 20;  // 1 MiB
inline constexpr std::size_t kMaxBlockBytes = 64u << 20;      // 64 MiB
inline constexpr std::size_t kMaxBlockTransactions = 100'000;
inline constexpr std::size_t kMaxHeaderBytes = 4096;

// A decoded, structurally valid block.
struct Block {
  consensus::ProposalHeader header;
  crypto::Digest hash;  // consensus::ProposalDigest(header)
  std::vector<ledger::SignedTransaction> transactions;
  consensus::CommitCertificate certificate;
  crypto::Digest state_root;  // after executing this block (checkpoint-certified every K)
  // Each transaction's bytes as they arrived, parallel to `transactions` (filled by DecodeBlock,
  // ignored by EncodeBlock): handed on to consensus without encoding them again.
  std::vector<Bytes> transaction_bytes;
};

Result<ledger::SignedTransaction> DecodeSignedTransaction(ByteSpan bytes);
// The same, for bytes whose id this node computed already (consensus::Transaction::id): not
// hashed again.
Result<ledger::SignedTransaction> DecodeSignedTransaction(ByteSpan bytes, const crypto::Digest& id);
// For a transaction of a block that 2f+1 validators vouch for (their signatures cover its body,
// through its id): DecodeSignedTransaction with `id`, refusing an envelope that is not exactly
// the canonical encoding of the body and a signature, the bytes the signatures do not cover.
Result<ledger::SignedTransaction> DecodeCertifiedTransaction(ByteSpan bytes,
                                                             const crypto::Digest& id);
// The id of a signed transaction, found by scanning only the envelope's fields: no copy and no
// decoding of the body, for a duplicate check before decoding (gossip brings several copies).
// Equals DecodeSignedTransaction(bytes)->id whenever that succeeds; bytes it refuses may still
// get an id here, so this never admits anything on its own.
Result<crypto::Digest> PeekTransactionId(ByteSpan bytes);
Bytes EncodeSignedTransaction(const ledger::SignedTransaction& tx);
// Decodes only the envelope fields of a TransactionBody.
Result<ledger::TransactionHeader> DecodeTransactionHeader(ByteSpan body);

Result<consensus::ProposalHeader> DecodeBlockHeader(ByteSpan bytes);
Bytes EncodeBlockHeader(const consensus::ProposalHeader& header);

Result<consensus::CommitCertificate> DecodeCommitCertificate(ByteSpan bytes);
Bytes EncodeCommitCertificate(const consensus::CommitCertificate& cert);

// Body: the serialized transactions, in order.
Result<std::vector<ledger::SignedTransaction>> DecodeBlockBody(ByteSpan bytes);
Bytes EncodeBlockBody(const std::vector<ledger::SignedTransaction>& txs);
// The same from transactions already encoded (a decided proposal's): their bytes are copied into
// the body as they are, not decoded and encoded again.
Bytes EncodeBlockBody(const std::vector<consensus::Transaction>& txs);
// Back to the transactions' bytes, each with its id (PeekTransactionId): what consensus held
// (a prepared proposal's, restored from the body staged for it, ADR 0025). Nothing is verified.
Result<std::vector<consensus::Transaction>> DecodeBlockBodyTransactions(ByteSpan bytes);

// The header's tx_root for these transactions as EncodeSignedTransaction (and so EncodeBlock and
// EncodeBlockBody) writes them: the Merkle root of their leaves (consensus::TransactionLeaf).
crypto::Digest TransactionRoot(const std::vector<ledger::SignedTransaction>& txs);

// A whole block. Checks that tx_count and tx_root match the transactions and that the
// certificate names this block (hash and height).
Result<Block> DecodeBlock(ByteSpan bytes);
Bytes EncodeBlock(const Block& block);
// A block from its parts as stored (EncodeBlockHeader, EncodeBlockBody and
// EncodeCommitCertificate bytes), state root zero: what EncodeBlock would give for the decoded
// parts, without decoding them.
Bytes EncodeBlock(ByteSpan header, ByteSpan body, ByteSpan certificate);

}  // namespace ertr::proto
