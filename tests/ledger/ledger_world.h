#pragma once

// LedgerWorld: a chain of a few institutions driven block by block through the real chain code,
// over any StateStore, with fast fake signatures (tests/sim/fake_crypto.h). Seeded: the same seed
// makes the same keys, ids and transactions.

#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ledger/chain_code.h"
#include "ledger/state.h"
#include "storage/state_store.h"
#include "tests/sim/fake_crypto.h"

namespace ertr::testing {

class LedgerWorld {
 public:
  // Genesis with `institutions` members "hosp-a", "hosp-b", ... at time 1'000'000 ms.
  LedgerWorld(std::shared_ptr<storage::StateStore> store, int institutions, std::uint64_t seed,
              const ledger::ChainParameters& params = {});

  // A new key pair; the world can sign with it.
  crypto::PublicKey NewKey();
  template <typename Id>
  Id NewId() {
    std::array<std::uint8_t, Id::kSize> a{};
    for (auto& b : a) b = static_cast<std::uint8_t>(rng_() & 0xff);
    return Id(a);
  }

  // A signed transaction with the signer's next nonce.
  ledger::Transaction Tx(const crypto::PublicKey& signer, const ledger::Payload& payload,
                         std::uint64_t valid_until_height = 0);

  // Executes one block of the transactions at now() + advance_ms and commits its writes.
  // `signatures_certified`: BlockContext::signatures_certified.
  ledger::BlockResult Commit(const std::vector<ledger::Transaction>& txs,
                             std::uint64_t advance_ms = 1000, bool signatures_certified = false);
  // One transaction in its own block; its rejection, or nullopt if applied.
  std::optional<ledger::Rejection> Apply(const crypto::PublicKey& signer,
                                         const ledger::Payload& payload,
                                         std::uint64_t advance_ms = 1000);
  // Applies and requires success.
  void MustApply(const crypto::PublicKey& signer, const ledger::Payload& payload,
                 std::uint64_t advance_ms = 1000);

  // Shortcuts that must succeed.
  crypto::PublicKey AddUser(int institution, ledger::Role role);
  ledger::Pseudonym AddPatient(int institution, std::optional<crypto::PublicKey> patient_key = {});
  ledger::RecordId AddRecord(const crypto::PublicKey& uploader, int institution,
                             const ledger::Pseudonym& patient,
                             ledger::RecordKind kind = ledger::RecordKind::kRtBeamsTreatmentRecord,
                             std::vector<int> extra_envelopes = {});
  ledger::SubmitRecord RecordPayload(int institution, const ledger::Pseudonym& patient,
                                     ledger::RecordKind kind, std::vector<int> envelope_insts);

  ledger::StateView View() const { return ledger::StateView(*store_); }
  const std::string& inst(int i) const { return institutions_[static_cast<std::size_t>(i)]; }
  const crypto::PublicKey& admin(int i) const { return admins_[static_cast<std::size_t>(i)]; }
  const crypto::PublicKey& node(int i) const { return nodes_[static_cast<std::size_t>(i)]; }
  int institution_count() const { return static_cast<int>(institutions_.size()); }
  std::uint64_t now() const { return now_ms_; }
  Height height() const { return height_; }
  storage::StateStore& store() { return *store_; }
  const std::string& chain_id() const { return chain_id_; }
  std::mt19937_64& rng() { return rng_; }
  const crypto::Verifier& verifier() const { return verifier_; }

 private:
  std::shared_ptr<storage::StateStore> store_;
  sim::FakeKeys keys_;
  sim::FakeVerifier verifier_{keys_};
  ledger::ChainCode chain_code_{verifier_};
  std::mt19937_64 rng_;
  std::map<crypto::PublicKey, std::uint64_t> nonces_;
  std::string chain_id_ = "ertr-test";
  std::vector<std::string> institutions_;
  std::vector<crypto::PublicKey> admins_;
  std::vector<crypto::PublicKey> nodes_;
  Height height_{0};
  std::uint64_t now_ms_ = 1'000'000;
};

}  // namespace ertr::testing
