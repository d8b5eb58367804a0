// Writes crypto_vectors.json: inputs and outputs of every format of docs/spec/crypto.md, made by
// our implementation, for independent implementations of the spec to check against
// (tests/interop/verify_spec.mjs). The secret keys in it are test keys, used nowhere else.
//   build/tests/interop/make_crypto_vectors > tests/interop/crypto_vectors.json

#include <iostream>

#include "consensus/proposal.h"
#include "crypto/box_key.h"
#include "crypto/envelope.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/lthash.h"
#include "crypto/merkle.h"
#include "crypto/payload_cipher.h"
#include "crypto/sha256.h"
#include "crypto/signing.h"

using namespace ertr;

namespace {
std::string Q(std::string_view s) { return "\"" + std::string(s) + "\""; }
std::string H(ByteSpan b) { return Q(ToHex(b)); }
}  // namespace

int main() {
  if (!crypto::Init().ok()) return 1;
  std::cout << "{\n";
  // Signed message and signature.
  auto sk = *crypto::SigningKey::FromSeed(Bytes(32, 0x11));
  Bytes payload = ToBytes("payload bytes");
  auto msg = *crypto::SignedMessage(crypto::SigningDomain::kCommit, "ertr-vectors", payload);
  auto sig = *sk.Sign(crypto::SigningDomain::kCommit, "ertr-vectors", payload);
  std::cout << "  \"signature\": {\"seed\": " << H(Bytes(32, 0x11))
            << ", \"public_key\": " << H(sk.public_key().span())
            << ", \"tag\": " << Q("ertr/commit/v1") << ", \"chain_id\": " << Q("ertr-vectors")
            << ", \"payload\": " << H(payload) << ", \"message\": " << H(msg)
            << ", \"signature\": " << H(sig.span()) << "},\n";
  // Domain hashes.
  std::cout << "  \"txid\": {\"body\": " << H(payload)
            << ", \"id\": " << H(crypto::DomainHash("ertr/txid/v1", payload).span()) << "},\n";
  // A transaction's leaf in tx_root: the hash of its whole bytes (ADR 0038).
  std::cout << "  \"txleaf\": {\"transaction\": " << H(payload)
            << ", \"leaf\": " << H(consensus::TransactionLeaf(payload).span()) << "},\n";
  // Merkle root and a proof.
  std::vector<crypto::Digest> leaves;
  std::cout << "  \"merkle\": {\"leaves\": [";
  for (int i = 0; i < 7; ++i) {
    leaves.push_back(crypto::Hash(AsBytes("leaf" + std::to_string(i))));
    std::cout << (i ? ", " : "") << H(leaves.back().span());
  }
  auto proof = *crypto::MerkleProve(leaves, 5);
  std::cout << "], \"root\": " << H(crypto::MerkleRoot(leaves).span())
            << ", \"empty_root\": " << H(crypto::MerkleRoot({}).span())
            << ", \"proof_index\": 5, \"proof_path\": [";
  for (std::size_t i = 0; i < proof.path.size(); ++i) {
    std::cout << (i ? ", " : "") << H(proof.path[i].span());
  }
  std::cout << "]},\n";
  // Payload + envelope.
  auto inst = *crypto::BoxKeyPair::FromSecretBytes(Bytes(32, 0x22));
  auto data_key = crypto::DataKey::Random();
  Bytes plain(5000);
  for (std::size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<std::uint8_t>(i % 251);
  Bytes ct = crypto::EncryptPayload(data_key, plain, 2048);
  Bytes env = crypto::SealDataKey(data_key, inst.public_key());
  std::cout << "  \"record\": {\"institution_secret_key\": " << H(inst.secret().UnsafeBytes())
            << ", \"institution_public_key\": " << H(inst.public_key().span())
            << ", \"envelope\": " << H(env) << ", \"ciphertext\": " << H(ct)
            << ", \"ciphertext_digest\": " << H(crypto::Sha256(ct).span())
            << ", \"plaintext\": " << H(plain) << "},\n";
  // Key file.
  auto kf = *crypto::EncodeKeyFile(sk, "vector passphrase", crypto::KdfCost::Minimum());
  std::cout << "  \"key_file\": {\"passphrase\": " << Q("vector passphrase")
            << ", \"file\": " << H(kf) << ", \"secret_key\": " << H(sk.secret().UnsafeBytes())
            << "},\n";
  // State root.
  crypto::LtHash16 acc;
  acc.AddEntry(AsBytes("user/alice"), AsBytes("physician"));
  acc.AddEntry(AsBytes("record/1"), AsBytes("digest"));
  std::cout << "  \"state_root\": {\"entries\": [[" << H(AsBytes("user/alice")) << ", "
            << H(AsBytes("physician")) << "], [" << H(AsBytes("record/1")) << ", "
            << H(AsBytes("digest")) << "]], \"root\": " << H(acc.Root().span())
            << ", \"empty_root\": " << H(crypto::LtHash16().Root().span()) << "}\n";
  std::cout << "}\n";
  return 0;
}
