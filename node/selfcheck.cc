#include "node/selfcheck.h"

#include "consensus/proposal.h"
#include "crypto/box_key.h"
#include "crypto/envelope.h"
#include "crypto/key_file.h"
#include "crypto/payload_cipher.h"
#include "crypto/signing.h"
#include "ledger/chain_code.h"
#include "ledger/policy.h"
#include "ledger/queries.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
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

  ERTR_ASSIGN_OR_RETURN(auto blobs, storage::OpenBlobStore(dir / "blobs"));
  ERTR_ASSIGN_OR_RETURN(crypto::Digest digest, storage::PutBlob(*blobs, ciphertext));
  Step(out, "stored the ciphertext in the content-addressed blob store", digest.ShortHex() + "…");

  // A two-institution chain: genesis, then one block in which hosp-a registers a physician and
  // a patient and submits the encrypted record, through the real chain code.
  auto verifier = crypto::MakeEd25519Verifier();
  ledger::ChainCode chain_code(*verifier);
  auto admin_a = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  auto admin_b = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  auto physician_a = crypto::MakeEd25519Signer(std::move(signer));
  auto physician_b = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  ledger::Genesis genesis;
  genesis.chain_id = kChain;
  genesis.institutions = {{"hosp-a",
                           "Selfcheck A",
                           crypto::SigningKey::Generate().public_key(),
                           institution.public_key(),
                           {admin_a->public_key()}},
                          {"hosp-b",
                           "Selfcheck B",
                           crypto::SigningKey::Generate().public_key(),
                           crypto::BoxKeyPair::Generate().public_key(),
                           {admin_b->public_key()}}};
  ledger::TransactionHeader h;
  h.chain_id = kChain;
  h.nonce = 1;
  std::vector<ledger::Transaction> txs;
  auto add = [&](const crypto::Signer& by, const ledger::Payload& body) -> Status {
    ERTR_ASSIGN_OR_RETURN(auto tx, proto::MakeTransaction(h, body, by));
    txs.push_back(std::move(tx));
    ++h.nonce;
    return Status::Ok();
  };
  ERTR_RETURN_IF_ERROR(add(*admin_a, genesis));
  std::array<std::uint8_t, 16> random_id{};
  crypto::RandomBytes(random_id);
  const ledger::Pseudonym patient(random_id);
  crypto::RandomBytes(random_id);
  const ledger::RecordId record_id(random_id);
  ERTR_ASSIGN_OR_RETURN(auto sealed, ledger::SealedKey::FromSpan(envelope, "envelope"));
  ledger::SubmitRecord submit{record_id,
                              patient,
                              ledger::RecordKind::kRtBeamsTreatmentRecord,
                              digest,
                              ciphertext.size(),
                              {digest, {"hosp-a"}},
                              "hosp-a",
                              {{"hosp-a", sealed}}};
  ERTR_RETURN_IF_ERROR(add(*admin_a, ledger::RegisterUser{"hosp-a", physician_a->public_key(),
                                                          ledger::Role::kPhysician, "md-1"}));
  ERTR_RETURN_IF_ERROR(add(*admin_b, ledger::RegisterUser{"hosp-b", physician_b->public_key(),
                                                          ledger::Role::kPhysician, "md-2"}));
  ERTR_RETURN_IF_ERROR(add(*admin_a, ledger::RegisterPatient{patient, "hosp-a", {}}));
  ERTR_RETURN_IF_ERROR(add(*physician_a, submit));
  std::vector<ledger::SignedTransaction> block_txs;
  for (std::size_t i = 1; i < txs.size(); ++i) block_txs.push_back(txs[i].signed_tx);
  const ledger::SignedTransaction& tx = block_txs.back();
  {
    ERTR_ASSIGN_OR_RETURN(auto stores, storage::OpenRocksDbStores(dir / "db"));
    ERTR_ASSIGN_OR_RETURN(auto initial, chain_code.ExecuteGenesis(txs[0], *stores.state));
    ERTR_RETURN_IF_ERROR(stores.state->Commit(initial));
    Step(out, "applied genesis: two institutions, their admins and validator keys", "");
    consensus::ProposalHeader header;
    header.chain_id = kChain;
    header.height = Height(1);
    header.time_ms = 1000;
    header.tx_root = proto::TransactionRoot(block_txs);
    header.tx_count = static_cast<std::uint32_t>(block_txs.size());
    ERTR_ASSIGN_OR_RETURN(auto result,
                          chain_code.ExecuteBlock({header.height, header.time_ms},
                                                  std::span(txs).subspan(1), *stores.state));
    for (const auto& r : result.results) {
      if (!r.accepted())
        return Status::Internal("selfcheck transaction rejected: " + r.rejection->ToString());
    }
    storage::StoredBlock block;
    block.height = Height(1);
    block.header = proto::EncodeBlockHeader(header);
    block.hash = consensus::ProposalDigest(header);
    block.time_ms = header.time_ms;
    block.body = proto::EncodeBlockBody(block_txs);
    for (const auto& t : block_txs) block.tx_hashes.push_back(t.id);
    ERTR_RETURN_IF_ERROR(stores.blocks->Append(block, result.writes));
    Step(out, "chain code applied block 1 (2 users, a pseudonymous patient, the record) atomically",
         "state root " + stores.state->StateRoot().ShortHex() + "…");
  }
  ERTR_ASSIGN_OR_RETURN(auto stores, storage::OpenRocksDbStores(dir / "db"));
  ledger::StateView view(*stores.state);
  ERTR_ASSIGN_OR_RETURN(auto outcome, ledger::TransactionOutcome(view, tx.id));
  if (!outcome || !outcome->accepted) {
    return Status::DataLoss("the record's transaction has no accepted outcome after reopen");
  }
  const Height at(outcome->height);
  ERTR_ASSIGN_OR_RETURN(auto header_bytes, stores.blocks->LoadHeader(at));
  ERTR_ASSIGN_OR_RETURN(auto header, proto::DecodeBlockHeader(header_bytes));
  if (consensus::ProposalDigest(header) != *stores.blocks->LoadHash(at)) {
    return Status::DataLoss("block hash after reopen does not match the stored header");
  }
  ERTR_ASSIGN_OR_RETURN(
      auto own, ledger::EvaluateRead(view, physician_a->public_key(), record_id, header.time_ms));
  ERTR_ASSIGN_OR_RETURN(
      auto other, ledger::EvaluateRead(view, physician_b->public_key(), record_id, header.time_ms));
  if (!own.allowed || other.allowed) {
    return Status::DataLoss("the record's access policy is wrong after reopen");
  }
  ERTR_RETURN_IF_ERROR(blobs->Verify(digest));
  Step(out, "reopened the database: height, transaction outcome, block hash, state and blob verify",
       "height " + stores.blocks->LatestHeight().ToString());
  Step(out, "policy: hosp-a's physician may read the record (care team)",
       std::string(ledger::AccessBasisName(own.basis)));
  Step(out, "policy: hosp-b's physician may not, without the patient's consent",
       std::string(ledger::RejectReasonName(other.denial->reason)));
  out << "selfcheck passed\n";
  return Status::Ok();
}

}  // namespace ertr::node
