#include "tests/ledger/ledger_world.h"

#include <stdexcept>

#include "proto/ledger_codec.h"

namespace ertr::testing {

using namespace ledger;

namespace {

// Throws rather than REQUIRE, so that the world also runs outside a test (bench/micro_bench.cc);
// a test reports the exception and its message as its failure.
void Must(const Status& s, std::string_view what) {
  if (!s.ok()) throw std::logic_error("LedgerWorld: " + std::string(what) + ": " + s.ToString());
}
template <typename T>
void Must(const Result<T>& r, std::string_view what) {
  if (!r) Must(r.error(), what);
}

}  // namespace

LedgerWorld::LedgerWorld(std::shared_ptr<storage::StateStore> store, int institutions,
                         std::uint64_t seed, const ChainParameters& params)
    : store_(std::move(store)), rng_(seed) {
  Genesis g;
  g.chain_id = chain_id_;
  g.genesis_time_ms = now_ms_;
  g.parameters = params;
  for (int i = 0; i < institutions; ++i) {
    Institution inst;
    inst.id = std::string("hosp-") + static_cast<char>('a' + i);
    inst.name = "Synthetic Radiation Oncology " + std::to_string(i);
    inst.validator_key = NewKey();
    std::array<std::uint8_t, 32> box{};
    for (auto& b : box) b = static_cast<std::uint8_t>(rng_());
    inst.encryption_key = crypto::BoxPublicKey(box);
    inst.admin_keys.push_back(NewKey());
    institutions_.push_back(inst.id);
    nodes_.push_back(inst.validator_key);
    admins_.push_back(inst.admin_keys[0]);
    g.institutions.push_back(std::move(inst));
  }
  auto tx = Tx(admins_[0], g);
  auto delta = chain_code_.ExecuteGenesis(tx, *store_);
  Must(delta, "genesis");
  Must(store_->Commit(*delta), "committing the genesis");
}

crypto::PublicKey LedgerWorld::NewKey() {
  std::array<std::uint8_t, 32> secret{};
  for (auto& b : secret) b = static_cast<std::uint8_t>(rng_());
  return keys_.Add(secret);
}

Transaction LedgerWorld::Tx(const crypto::PublicKey& signer, const Payload& payload,
                            std::uint64_t valid_until_height) {
  TransactionHeader h;
  h.chain_id = chain_id_;
  h.valid_until_height = valid_until_height;
  h.nonce = ++nonces_[signer];
  sim::FakeSigner s(keys_, signer);
  auto tx = proto::MakeTransaction(h, payload, s);
  Must(tx, "making a transaction");
  return std::move(*tx);
}

BlockResult LedgerWorld::Commit(const std::vector<Transaction>& txs, std::uint64_t advance_ms,
                                bool signatures_certified) {
  now_ms_ += advance_ms;
  height_ = Height(height_.value() + 1);
  auto result =
      chain_code_.ExecuteBlock(BlockContext{height_, now_ms_, signatures_certified}, txs, *store_);
  Must(result, "executing a block");
  Must(store_->Commit(result->writes), "committing a block");
  return std::move(*result);
}

std::optional<Rejection> LedgerWorld::Apply(const crypto::PublicKey& signer, const Payload& payload,
                                            std::uint64_t advance_ms) {
  auto result = Commit({Tx(signer, payload)}, advance_ms);
  return result.results.at(0).rejection;
}

void LedgerWorld::MustApply(const crypto::PublicKey& signer, const Payload& payload,
                            std::uint64_t advance_ms) {
  auto rejection = Apply(signer, payload, advance_ms);
  if (rejection) throw std::logic_error("LedgerWorld: refused: " + rejection->ToString());
}

crypto::PublicKey LedgerWorld::AddUser(int institution, Role role) {
  auto key = NewKey();
  MustApply(admin(institution),
            RegisterUser{inst(institution), key, role, "staff-" + key.ShortHex()});
  return key;
}

Pseudonym LedgerWorld::AddPatient(int institution, std::optional<crypto::PublicKey> patient_key) {
  auto p = NewId<Pseudonym>();
  MustApply(admin(institution), RegisterPatient{p, inst(institution), patient_key});
  return p;
}

SubmitRecord LedgerWorld::RecordPayload(int institution, const Pseudonym& patient, RecordKind kind,
                                        std::vector<int> envelope_insts) {
  SubmitRecord r;
  r.record_id = NewId<RecordId>();
  r.patient = patient;
  r.kind = kind;
  r.ciphertext_digest = NewId<crypto::Digest>();
  r.ciphertext_size = 4096;
  r.locator.content_digest = r.ciphertext_digest;
  r.locator.holder_institutions = {inst(institution)};
  r.uploader_institution_id = inst(institution);
  r.envelopes.push_back(KeyEnvelope{inst(institution), NewId<SealedKey>()});
  for (int i : envelope_insts) r.envelopes.push_back(KeyEnvelope{inst(i), NewId<SealedKey>()});
  return r;
}

RecordId LedgerWorld::AddRecord(const crypto::PublicKey& uploader, int institution,
                                const Pseudonym& patient, RecordKind kind,
                                std::vector<int> extra_envelopes) {
  auto r = RecordPayload(institution, patient, kind, std::move(extra_envelopes));
  MustApply(uploader, r);
  return r.record_id;
}

}  // namespace ertr::testing
