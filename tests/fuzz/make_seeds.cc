// Writes the committed seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/): one valid
// input per format, so the fuzzers start from the real shapes. Run from the repository root:
//   build/tests/fuzz/make_fuzz_seeds tests/fuzz/corpus

#include <filesystem>
#include <fstream>
#include <iostream>

#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/payload_cipher.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"

namespace {

void Write(const std::filesystem::path& dir, const std::string& name, const ertr::Bytes& data) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

}  // namespace

int main(int argc, char** argv) {
  using namespace ertr;
  if (argc != 2 || !crypto::Init().ok()) {
    std::cerr << "usage: make_fuzz_seeds CORPUS_DIR\n";
    return 2;
  }
  std::filesystem::path root = argv[1];
  auto key = *crypto::SigningKey::FromSeed(Bytes(32, 7));
  // TransactionBody{chain_id "ertr-seed", signer, nonce 1, null_op{payload 8 bytes}}.
  Bytes body = {0x0a, 9};
  Append(body, AsBytes("ertr-seed"));
  body.push_back(0x12);
  body.push_back(32);
  Append(body, key.public_key().span());
  Append(body, Bytes{0x18, 0x01, 0xaa, 0x01, 10, 0x0a, 8, 1, 2, 3, 4, 5, 6, 7, 8});
  ledger::SignedTransaction tx;
  tx.body = body;
  tx.signature = *key.Sign(crypto::SigningDomain::kTransaction, "ertr-seed", body);
  tx.id = ledger::TransactionId(body);
  Write(root / "fuzz_tx_decode", "null_op_tx", proto::EncodeSignedTransaction(tx));

  proto::Block b;
  b.transactions = {tx, tx};
  b.header.chain_id = "ertr-seed";
  b.header.height = Height(3);
  b.header.tx_root = proto::TransactionRoot(b.transactions);
  b.header.tx_count = 2;
  b.hash = consensus::ProposalDigest(b.header);
  b.certificate = {b.header.height, View(0), b.hash, {{ReplicaId(0), crypto::Signature()}}};
  Write(root / "fuzz_block_decode", "two_tx_block", proto::EncodeBlock(b));
  Write(root / "fuzz_block_decode", "header", proto::EncodeBlockHeader(b.header));

  // Consensus messages: a pre-prepare with the block's transactions, a vote, and a view change
  // carrying a prepared certificate.
  Bytes tx_bytes = proto::EncodeSignedTransaction(tx);
  consensus::Proposal prop = consensus::MakeProposal("ertr-seed", Height(3), 1000, ReplicaId(0),
                                                     {consensus::Transaction{tx.id, tx_bytes}});
  consensus::PrePrepare pp{View(2), prop, ReplicaId(0), crypto::Signature()};
  Write(root / "fuzz_consensus_decode", "pre_prepare", proto::EncodeConsensusMessage(pp));
  consensus::Prepare vote;
  vote.view = View(2);
  vote.height = Height(3);
  vote.digest = prop.digest;
  vote.sender = ReplicaId(1);
  Write(root / "fuzz_consensus_decode", "prepare", proto::EncodeConsensusMessage(vote));
  consensus::ViewChange vc;
  vc.new_view = View(3);
  vc.prepared.push_back({View(2), prop, {vote, vote}});
  vc.sender = ReplicaId(1);
  Write(root / "fuzz_consensus_decode", "view_change", proto::EncodeConsensusMessage(vc));
  consensus::NewView nv{View(3), {vc, vc}, ReplicaId(3), crypto::Signature()};
  Write(root / "fuzz_consensus_decode", "new_view", proto::EncodeConsensusMessage(nv));

  auto kf = crypto::EncodeKeyFile(key, "fuzz", crypto::KdfCost::Minimum());
  Write(root / "fuzz_key_file", "ed25519_min_cost", *kf);

  crypto::DataKey zero;  // the fuzz target decrypts with the all-zero key
  Bytes ct = {16};       // first byte: piece size for the target
  Append(ct, crypto::EncryptPayload(zero, Bytes(3000, 0x42), 1024));
  Write(root / "fuzz_payload_decrypt", "three_chunks", ct);
  std::cout << "seeds written to " << root << "\n";
  return 0;
}
