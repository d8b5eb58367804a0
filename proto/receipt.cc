#include "proto/receipt.h"

#include "crypto/merkle.h"
#include "ertr/v1/api.pb.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"

namespace ertr::proto {

namespace {

Status Tampered(const std::string& what) {
  return Status::DataLoss("the receipt does not verify: " + what +
                          " (it was altered, truncated, or is for another chain)");
}

}  // namespace

Result<Bytes> BuildReceipt(ByteSpan transaction, std::uint32_t index,
                           const std::vector<crypto::Digest>& block_leaves, ByteSpan block_header,
                           ByteSpan commit_certificate) {
  ERTR_ASSIGN_OR_RETURN(auto proof, crypto::MerkleProve(block_leaves, index));
  ertr::v1::Receipt msg;
  msg.set_format(kReceiptFormat);
  msg.set_transaction(std::string(AsStringView(transaction)));
  msg.set_tx_index(index);
  for (const auto& d : proof.path) msg.add_merkle_path(std::string(AsStringView(d.span())));
  msg.set_block_header(std::string(AsStringView(block_header)));
  msg.set_commit_certificate(std::string(AsStringView(commit_certificate)));
  const std::string out = msg.SerializeAsString();
  return Bytes(out.begin(), out.end());
}

Result<VerifiedReceipt> VerifyReceipt(ByteSpan receipt, const ledger::Genesis& genesis,
                                      const crypto::Verifier& verifier) {
  ertr::v1::Receipt msg;
  if (!msg.ParseFromArray(receipt.data(), static_cast<int>(receipt.size())) ||
      msg.format() != kReceiptFormat) {
    return Status::InvalidArgument(std::string("this is not an ertrchain receipt (expected a "
                                               "protobuf Receipt with format '") +
                                   kReceiptFormat + "')");
  }
  VerifiedReceipt out;
  auto tx = DecodeTransaction(AsBytes(msg.transaction()));
  if (!tx) return Tampered("its transaction does not decode: " + tx.error().message());
  out.transaction = std::move(*tx);
  const auto& stx = out.transaction.signed_tx;
  if (stx.header.chain_id != genesis.chain_id) {
    return Tampered("its transaction is for chain '" + stx.header.chain_id + "', not '" +
                    genesis.chain_id + "'");
  }
  if (!ledger::IsAuthentic(stx, verifier, genesis.parameters.benchmark_mode)) {
    return Tampered("the transaction's signature does not verify for its signer");
  }
  auto header = DecodeBlockHeader(AsBytes(msg.block_header()));
  if (!header) return Tampered("its block header does not decode: " + header.error().message());
  out.header = *header;
  if (header->chain_id != genesis.chain_id) return Tampered("its block is for another chain");
  crypto::MerkleProof proof;
  proof.leaf_index = msg.tx_index();
  proof.tree_size = header->tx_count;
  for (const auto& p : msg.merkle_path()) {
    auto d = crypto::Digest::FromSpan(AsBytes(p), "merkle_path");
    if (!d) return Tampered("a Merkle path entry is not 32 bytes");
    proof.path.push_back(*d);
  }
  if (msg.tx_index() >= header->tx_count ||
      !crypto::MerkleVerify(consensus::TransactionLeaf(AsBytes(msg.transaction())), proof,
                            header->tx_root)) {
    return Tampered("the transaction's Merkle path does not lead to the block's tx_root");
  }
  out.block_hash = consensus::ProposalDigest(*header);
  auto cert = DecodeCommitCertificate(AsBytes(msg.commit_certificate()));
  if (!cert) return Tampered("its commit certificate does not decode: " + cert.error().message());
  if (cert->block_hash != out.block_hash || cert->height != header->height) {
    return Tampered("the commit certificate is for another block");
  }
  std::vector<crypto::PublicKey> keys;
  for (const auto& inst : genesis.institutions) keys.push_back(inst.validator_key);
  ERTR_ASSIGN_OR_RETURN(auto validators, consensus::ValidatorSet::Create(keys));
  if (auto s = consensus::VerifyCommitCertificate(*cert, validators, genesis.chain_id, verifier);
      !s.ok()) {
    return Tampered("the commit certificate: " + s.message());
  }
  out.votes = cert->votes.size();
  if (out.transaction.payload) {
    if (const auto* r = std::get_if<ledger::SubmitRecord>(&*out.transaction.payload)) {
      out.record =
          ReceiptRecord{r->record_id,         r->patient,         r->kind,
                        r->ciphertext_digest, r->ciphertext_size, r->uploader_institution_id};
      if (msg.has_record()) {
        const auto& info = msg.record();
        if (info.record_id() != AsStringView(r->record_id.span()) ||
            info.patient_pseudonym() != AsStringView(r->patient.span()) ||
            info.kind() != static_cast<int>(r->kind) ||
            info.ciphertext_digest() != AsStringView(r->ciphertext_digest.span()) ||
            info.ciphertext_size() != r->ciphertext_size ||
            info.uploader_institution_id() != r->uploader_institution_id ||
            (!info.uploader_user().empty() &&
             info.uploader_user() != AsStringView(stx.header.signer.span())) ||
            (!info.tx_id().empty() && info.tx_id() != AsStringView(stx.id.span())) ||
            (info.height() != 0 && info.height() != header->height.value())) {
          return Tampered("its record metadata differs from the signed transaction");
        }
      }
    }
  }
  return out;
}

}  // namespace ertr::proto
