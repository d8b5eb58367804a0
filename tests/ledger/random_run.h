#pragma once

// RandomRun: drives a LedgerWorld with seeded random transaction sequences (valid and invalid:
// wrong signers, deactivated users, replays, envelopes without consent, expiries, erasures) and
// keeps an independent model of who may read what, written from docs/spec/ledger.md rather than
// from the chain code, to check the chain's state against after every block.

#include <map>
#include <set>
#include <string>
#include <vector>

#include "tests/ledger/ledger_world.h"

namespace ertr::testing {

class RandomRun {
 public:
  RandomRun(std::shared_ptr<storage::StateStore> store, std::uint64_t seed);

  // One block of 1..4 random transactions after a random pause; updates the model from the
  // outcomes and checks the outcome rules the model can predict.
  void Step();
  // Checks every invariant of the state against the model; Catch2 CHECKs.
  void CheckInvariants();

  LedgerWorld& world() { return world_; }
  std::uint64_t accepted() const { return accepted_; }
  std::uint64_t rejected() const { return rejected_; }

 private:
  struct User {
    crypto::PublicKey key;
    int inst;
    ledger::Role role;
    bool active = true;
  };
  struct Patient {
    ledger::Pseudonym id;
    int home;
    std::optional<crypto::PublicKey> key;
  };
  struct Record {
    ledger::RecordId id;
    std::size_t patient;
    int uploader;
    ledger::RecordKind kind;
    bool erased = false;
  };
  struct Grant {
    ledger::GrantConsent tx;
    bool revoked = false;
  };
  struct Planned {
    ledger::Transaction tx;
    std::function<void()> on_accept;
    bool must_reject = false;
  };

  Planned Next();
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[world_.rng()() % v.size()];
  }
  bool Chance(int percent) { return static_cast<int>(world_.rng()() % 100) < percent; }
  crypto::PublicKey PickSigner();
  bool IsActiveUser(const crypto::PublicKey& k) const;
  int InstitutionOf(const crypto::PublicKey& k) const;  // -1 if not a user
  bool GrantActive(const Grant& g) const;
  bool Covers(const Grant& g, const Record& r) const;
  bool ModelMayRead(const User& u, const Record& r) const;
  std::set<std::string> ModelEntitled(const Record& r) const;

  LedgerWorld world_;
  std::vector<User> users_;
  std::vector<Patient> patients_;
  std::vector<Record> records_;
  std::vector<Grant> grants_;
  std::map<std::pair<std::size_t, crypto::PublicKey>, std::uint64_t> glass_;  // -> expiry
  std::vector<ledger::Transaction> committed_;
  bool single_ = false;  // the block being planned has one transaction
  std::uint64_t accepted_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace ertr::testing
