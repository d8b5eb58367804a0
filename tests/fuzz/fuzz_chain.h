#pragma once

// A fixed small chain for the ledger fuzz target: institution "hosp-a" with admin key 0x01..01
// and validator key 0x02..02, a physician 0x03..03 and patient 0x04..04 (16 bytes), chain id
// "ertr-fuzz". Every signature verifies, so the fuzzer reaches the payload rules.

#include <memory>

#include "crypto/init.h"
#include "ledger/chain_code.h"
#include "proto/ledger_codec.h"
#include "storage/stores.h"

namespace ertr::fuzz {

class AcceptAll final : public crypto::Verifier {
 public:
  bool Verify(const crypto::PublicKey&, crypto::SigningDomain, std::string_view, ByteSpan,
              const crypto::Signature&) const override {
    return true;
  }
};

class NoSigner final : public crypto::Signer {
 public:
  explicit NoSigner(crypto::PublicKey pk) : pk_(pk) {}
  const crypto::PublicKey& public_key() const override { return pk_; }
  Result<crypto::Signature> Sign(crypto::SigningDomain, std::string_view, ByteSpan) const override {
    return crypto::Signature();
  }

 private:
  crypto::PublicKey pk_;
};

inline crypto::PublicKey Key(std::uint8_t b) {
  std::array<std::uint8_t, 32> a{};
  a.fill(b);
  return crypto::PublicKey(a);
}

class FuzzChain {
 public:
  FuzzChain() : state_(storage::MakeMemoryStores().state), code_(verifier_) {
    if (!crypto::Init().ok()) std::abort();
    ledger::Genesis g;
    g.chain_id = "ertr-fuzz";
    g.institutions.push_back(ledger::Institution{"hosp-a", "Fuzz", Key(2), {}, {Key(1)}});
    ledger::TransactionHeader h;
    h.chain_id = g.chain_id;
    h.nonce = 1;
    auto genesis = proto::MakeTransaction(h, g, NoSigner(Key(1)));
    if (!genesis) std::abort();
    auto delta = code_.ExecuteGenesis(*genesis, *state_);
    if (!delta || !state_->Commit(*delta).ok()) std::abort();
    h.nonce = 2;
    std::array<std::uint8_t, 16> p{};
    p.fill(4);
    Apply(h, ledger::RegisterUser{"hosp-a", Key(3), ledger::Role::kPhysician, "fuzz-md"});
    h.nonce = 3;
    Apply(h, ledger::RegisterPatient{ledger::Pseudonym(p), "hosp-a", Key(5)});
  }

  // Executes the transaction in a block on top of the fixed chain, without committing it.
  Result<ledger::BlockResult> Execute(const ledger::Transaction& tx) const {
    return code_.ExecuteBlock(ledger::BlockContext{Height(10), 5'000'000}, {&tx, 1}, *state_);
  }

 private:
  void Apply(const ledger::TransactionHeader& h, const ledger::Payload& p) {
    auto tx = proto::MakeTransaction(h, p, NoSigner(Key(1)));
    if (!tx) std::abort();
    auto r = code_.ExecuteBlock(ledger::BlockContext{Height(h.nonce), 2'000'000 + h.nonce},
                                {&*tx, 1}, *state_);
    if (!r || !r->results[0].accepted() || !state_->Commit(r->writes).ok()) std::abort();
  }

  AcceptAll verifier_;
  std::shared_ptr<storage::StateStore> state_;
  ledger::ChainCode code_;
};

}  // namespace ertr::fuzz
