#include "node/selfcheck.h"

#include "consensus/proposal.h"
#include "crypto/box_key.h"
#include "crypto/envelope.h"
#include "crypto/key_file.h"
#include "crypto/payload_cipher.h"
#include "crypto/signing.h"
#include "proto/codec.h"
#include "storage/blob_store.h"
#include "storage/stores.h"

namespace ertr::node {

namespace {

void Step(std::ostream& out, std::string_view what, std::string_view detail) {
  out << "  [ok] " << what;
  if (!detail.empty()) out << " - " << detail;
  out << "\n";
}

}  // namespace

Status RunSelfCheck(const std::filesystem::path& dir, std::ostream& out) {
  out << "ertrd selfcheck in " << dir.string() << "\n";
  std::error_code ec;
  if (std::filesystem::exists(dir / "db", ec)) {
    return Status::AlreadyExists("selfcheck needs an empty scratch directory; " + dir.string() +
                                 " already holds a database");
  }
  constexpr std::string_view kChain = "ertr-selfcheck";

  auto signer = crypto::SigningKey::Generate();
  auto institution = crypto::BoxKeyPair::Generate();
  Step(out, "generated an Ed25519 signing key and an X25519 institution key",
       "public " + signer.public_key().ShortHex() + "…");

  ERTR_RETURN_IF_ERROR(crypto::SaveKeyFile(dir / "selfcheck.key", signer, "selfcheck passphrase",
                                           crypto::KdfCost::Interactive()));
  ERTR_ASSIGN_OR_RETURN(Bytes key_file, crypto::ReadKeyFileBytes(dir / "selfcheck.key"));
  ERTR_ASSIGN_OR_RETURN(auto reloaded,
                        crypto::DecodeSigningKeyFile(key_file, "selfcheck passphrase"));
  if (reloaded.public_key() != signer.public_key()) {
    return Status::Internal("key file round trip changed the key");
  }
  if (crypto::DecodeSigningKeyFile(key_file, "wrong").ok()) {
    return Status::Internal("key file opened with a wrong passphrase");
  }
  Step(out, "key file encrypted at rest (Argon2id + secretbox), reopened, wrong passphrase refused",
       "");

  Bytes payload(3 * 1024 * 1024 + 17);
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<std::uint8_t>(i * 31);
  auto data_key = crypto::DataKey::Random();
  Bytes ciphertext = crypto::EncryptPayload(data_key, payload);
  Bytes envelope = crypto::SealDataKey(data_key, institution.public_key());
  ERTR_ASSIGN_OR_RETURN(auto opened_key, crypto::OpenEnvelope(envelope, institution));
  ERTR_ASSIGN_OR_RETURN(Bytes plain, crypto::DecryptPayload(opened_key, ciphertext));
  if (plain != payload) return Status::Internal("payload round trip changed the bytes");
  Step(out, "encrypted a synthetic 3 MiB payload (XChaCha20-Poly1305 secretstream)",
       "data key sealed to the institution key and reopened; decrypted bit-exact");

  ERTR_ASSIGN_OR_RETURN(auto blobs, storage::OpenFileBlobStore(dir / "blobs"));
  ERTR_ASSIGN_OR_RETURN(crypto::Digest digest, storage::PutBlob(*blobs, ciphertext));
  Step(out, "stored the ciphertext in the content-addressed blob store", digest.ShortHex() + "…");

  ledger::SignedTransaction tx;
  {
    // A benchmark-style transaction body is enough to exercise hashing, signing and the codec.
    Bytes body = ToBytes("selfcheck transaction");
    tx.body = body;
    ERTR_ASSIGN_OR_RETURN(tx.signature,
                          signer.Sign(crypto::SigningDomain::kTransaction, kChain, body));
    tx.id = ledger::TransactionId(body);
  }
  {
    ERTR_ASSIGN_OR_RETURN(auto stores, storage::OpenRocksDbStores(dir / "db"));
    consensus::ProposalHeader header;
    header.chain_id = kChain;
    header.height = Height(1);
    header.tx_root = proto::TransactionRoot({tx});
    header.tx_count = 1;
    StateDelta delta;
    delta.Put(ToBytes("record/selfcheck"), digest.ToBytes());
    storage::StoredBlock block;
    block.height = Height(1);
    block.header = proto::EncodeBlockHeader(header);
    block.hash = consensus::ProposalDigest(header);
    block.body = proto::EncodeBlockBody({tx});
    block.tx_hashes = {tx.id};
    ERTR_RETURN_IF_ERROR(stores.blocks->Append(block, delta));
    Step(out, "appended block 1 and its state change atomically (RocksDB, synced)",
         "state root " + stores.state->StateRoot().ShortHex() + "…");
  }
  ERTR_ASSIGN_OR_RETURN(auto stores, storage::OpenRocksDbStores(dir / "db"));
  ERTR_ASSIGN_OR_RETURN(auto loc, stores.blocks->FindTransaction(tx.id));
  ERTR_ASSIGN_OR_RETURN(auto header_bytes, stores.blocks->LoadHeader(loc.height));
  ERTR_ASSIGN_OR_RETURN(auto header, proto::DecodeBlockHeader(header_bytes));
  if (consensus::ProposalDigest(header) != *stores.blocks->LoadHash(loc.height)) {
    return Status::DataLoss("block hash after reopen does not match the stored header");
  }
  auto entry = stores.state->Get(AsBytes("record/selfcheck"));
  if (!entry.ok() || !entry->has_value() || **entry != digest.ToBytes()) {
    return Status::DataLoss("state entry written with block 1 is missing after reopen");
  }
  ERTR_RETURN_IF_ERROR(blobs->Verify(digest));
  Step(out, "reopened the database: height, transaction index, block hash, state and blob verify",
       "height " + stores.blocks->LatestHeight().ToString());
  out << "selfcheck passed\n";
  return Status::Ok();
}

}  // namespace ertr::node
