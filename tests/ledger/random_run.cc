#include "tests/ledger/random_run.h"

#include <catch2/catch.hpp>

#include "ledger/policy.h"
#include "ledger/queries.h"

namespace ertr::testing {

using namespace ledger;

RandomRun::RandomRun(std::shared_ptr<storage::StateStore> store, std::uint64_t seed)
    : world_(std::move(store), 4, seed) {
  for (int i = 0; i < world_.institution_count(); ++i) {
    users_.push_back(User{world_.admin(i), i, Role::kAdmin});
  }
}

bool RandomRun::IsActiveUser(const crypto::PublicKey& k) const {
  for (const auto& u : users_) {
    if (u.key == k) return u.active;
  }
  return false;
}

int RandomRun::InstitutionOf(const crypto::PublicKey& k) const {
  for (const auto& u : users_) {
    if (u.key == k) return u.inst;
  }
  return -1;
}

crypto::PublicKey RandomRun::PickSigner() {
  if (Chance(5)) return world_.NewKey();  // a stranger
  return Pick(users_).key;
}

bool RandomRun::GrantActive(const Grant& g) const {
  return !g.revoked && (g.tx.expires_at_ms == 0 || world_.now() < g.tx.expires_at_ms);
}

bool RandomRun::Covers(const Grant& g, const Record& r) const {
  if (g.tx.patient != patients_[r.patient].id) return false;
  if (std::holds_alternative<ScopeAll>(g.tx.scope)) return true;
  if (const auto* k = std::get_if<ScopeKinds>(&g.tx.scope)) {
    return std::count(k->kinds.begin(), k->kinds.end(), r.kind) > 0;
  }
  return std::get<ScopeRecord>(g.tx.scope).record_id == r.id;
}

bool RandomRun::ModelMayRead(const User& u, const Record& r) const {
  const bool clinical = u.role == Role::kPhysician || u.role == Role::kPhysicist ||
                        u.role == Role::kTherapist || u.role == Role::kIntegrator;
  if (!u.active || !clinical || r.erased) return false;
  if (u.inst == r.uploader) return true;
  for (const auto& g : grants_) {
    if (!GrantActive(g) || !Covers(g, r)) continue;
    if (const auto* i = std::get_if<GranteeInstitution>(&g.tx.grantee)) {
      if (i->institution_id == world_.inst(u.inst)) return true;
    } else if (const auto* ro = std::get_if<GranteeRole>(&g.tx.grantee)) {
      if (ro->institution_id == world_.inst(u.inst) && ro->role == u.role) return true;
    } else if (std::get<GranteeUser>(g.tx.grantee).user_key == u.key) {
      return true;
    }
  }
  auto it = glass_.find({r.patient, u.key});
  return it != glass_.end() && world_.now() < it->second;
}

std::set<std::string> RandomRun::ModelEntitled(const Record& r) const {
  std::set<std::string> out;
  if (r.erased) return out;
  out.insert(world_.inst(r.uploader));
  for (const auto& g : grants_) {
    if (!GrantActive(g) || !Covers(g, r)) continue;
    if (const auto* i = std::get_if<GranteeInstitution>(&g.tx.grantee)) {
      out.insert(i->institution_id);
    } else if (const auto* ro = std::get_if<GranteeRole>(&g.tx.grantee)) {
      out.insert(ro->institution_id);
    } else {
      // Through a user only while the user is active.
      const auto& key = std::get<GranteeUser>(g.tx.grantee).user_key;
      if (IsActiveUser(key)) out.insert(world_.inst(InstitutionOf(key)));
    }
  }
  for (const auto& [who, expiry] : glass_) {
    if (who.first == r.patient && world_.now() < expiry && IsActiveUser(who.second)) {
      out.insert(world_.inst(InstitutionOf(who.second)));
    }
  }
  return out;
}

RandomRun::Planned RandomRun::Next() {
  const int n = world_.institution_count();
  const int roll = static_cast<int>(world_.rng()() % 100);
  auto random_inst = [&] { return static_cast<int>(world_.rng()() % static_cast<unsigned>(n)); };

  if (roll < 5 && !committed_.empty()) {  // a replay never applies twice
    return Planned{Pick(committed_), nullptr, true};
  }
  if (roll < 15) {
    const int inst = random_inst();
    const Role role = static_cast<Role>(1 + world_.rng()() % kMaxRole);
    const auto signer = Chance(85) ? world_.admin(inst) : PickSigner();
    const auto key = world_.NewKey();
    return Planned{
        world_.Tx(signer, RegisterUser{world_.inst(inst), key, role, "s-" + key.ShortHex()}),
        [this, key, inst, role] {
          users_.push_back(User{key, inst, role});
        },
        !IsActiveUser(signer) && InstitutionOf(signer) >= 0};
  }
  if (roll < 19) {
    const std::size_t target = world_.rng()() % users_.size();
    const auto signer = Chance(80) ? world_.admin(users_[target].inst) : PickSigner();
    return Planned{world_.Tx(signer, DeactivateUser{users_[target].key, "left"}),
                   [this, target] { users_[target].active = false; }, false};
  }
  if (roll < 27 || patients_.empty()) {
    const int home = random_inst();
    const auto id = world_.NewId<Pseudonym>();
    std::optional<crypto::PublicKey> key;
    if (Chance(50)) key = world_.NewKey();
    return Planned{world_.Tx(world_.admin(home), RegisterPatient{id, world_.inst(home), key}),
                   [this, id, home, key] {
                     patients_.push_back(Patient{id, home, key});
                   },
                   false};
  }
  const std::size_t p = world_.rng()() % patients_.size();
  if (roll < 50) {
    const auto& u = Pick(users_);
    const auto kind = static_cast<RecordKind>(1 + world_.rng()() % kMaxRecordKind);
    std::vector<int> extra;
    for (int i = 0; i < n; ++i) {
      if (i != u.inst && Chance(25)) extra.push_back(i);
    }
    auto submit = world_.RecordPayload(u.inst, patients_[p].id, kind, extra);
    Record model{submit.record_id, p, u.inst, kind};
    bool must_reject = !u.active;
    auto entitled = ModelEntitled(model);
    // Consent given earlier in the same block may entitle an institution: predict only alone.
    for (int i : extra) must_reject |= single_ && !entitled.count(world_.inst(i));
    return Planned{world_.Tx(u.key, submit), [this, model] { records_.push_back(model); },
                   must_reject};
  }
  if (roll < 65) {
    const auto& patient = patients_[p];
    crypto::PublicKey signer = world_.admin(patient.home);
    if (patient.key && Chance(60)) signer = *patient.key;
    if (Chance(15)) signer = PickSigner();
    Grantee who = GranteeInstitution{world_.inst(random_inst())};
    if (Chance(30)) {
      who = GranteeRole{world_.inst(random_inst()), static_cast<Role>(1 + world_.rng()() % 4)};
    } else if (Chance(30)) {
      who = GranteeUser{Pick(users_).key};
    }
    ConsentScope scope = ScopeAll{};
    std::vector<const Record*> own;
    for (const auto& r : records_) {
      if (r.patient == p) own.push_back(&r);
    }
    if (Chance(30)) {
      scope = ScopeKinds{{static_cast<RecordKind>(1 + world_.rng()() % kMaxRecordKind)}};
    } else if (Chance(30) && !own.empty()) {
      scope = ScopeRecord{Pick(own)->id};
    }
    std::uint64_t expires = Chance(40) ? world_.now() + 1000 + world_.rng()() % 1'200'000 : 0;
    GrantConsent g{world_.NewId<GrantId>(), patient.id, who, scope, expires};
    bool authorised = patient.key && signer == *patient.key;
    for (const auto& u : users_) {
      authorised |= u.key == signer && u.active && u.role == Role::kAdmin && u.inst == patient.home;
    }
    return Planned{world_.Tx(signer, g), [this, g] { grants_.push_back(Grant{g}); }, !authorised};
  }
  if (roll < 72 && !grants_.empty()) {
    const std::size_t gi = world_.rng()() % grants_.size();
    const auto& g = grants_[gi];
    const Patient* patient = nullptr;
    for (const auto& pt : patients_) {
      if (pt.id == g.tx.patient) patient = &pt;
    }
    crypto::PublicKey signer =
        patient->key && Chance(50) ? *patient->key : world_.admin(patient->home);
    return Planned{world_.Tx(signer, RevokeConsent{g.tx.grant_id, g.tx.patient}),
                   [this, gi] { grants_[gi].revoked = true; }, g.revoked};
  }
  if (roll < 82 && !records_.empty()) {
    const auto& r = Pick(records_);
    const int holder = Chance(70) ? r.uploader : random_inst();
    const int newcomer = random_inst();
    return Planned{world_.Tx(world_.node(holder),
                             KeyShare{r.id, {world_.inst(newcomer), world_.NewId<SealedKey>()}}),
                   nullptr,
                   r.erased || holder != r.uploader ||
                       (single_ && !ModelEntitled(r).count(world_.inst(newcomer)))};
  }
  if (roll < 88) {
    const auto& u = Pick(users_);
    const std::uint64_t duration = 60'000 + world_.rng()() % 1'200'000;
    auto key = u.key;
    return Planned{world_.Tx(u.key, BreakGlass{patients_[p].id, "emergency", duration}),
                   [this, p, key, duration] {
                     glass_[{p, key}] = world_.now() + duration;
                   },
                   !u.active || u.role != Role::kPhysician};
  }
  if (roll < 92 && !records_.empty()) {
    const std::size_t ri = world_.rng()() % records_.size();
    const auto& patient = patients_[records_[ri].patient];
    crypto::PublicKey signer =
        patient.key && Chance(50) ? *patient.key : world_.admin(patient.home);
    if (Chance(20)) signer = PickSigner();
    return Planned{world_.Tx(signer, EraseRecord{records_[ri].id, "request"}),
                   [this, ri] { records_[ri].erased = true; }, records_[ri].erased};
  }
  if (!records_.empty()) {
    const auto& u = Pick(users_);
    const auto& r = Pick(records_);
    AccessEvent ev{r.id,         u.key, world_.inst(u.inst), AccessOutcome::kGranted, "treatment",
                   world_.now(), ""};
    if (!ModelMayRead(u, r)) {
      ev.outcome = AccessOutcome::kDenied;
      ev.reason = "no_consent";
    }
    return Planned{world_.Tx(world_.node(u.inst), RecordAccess{{ev}}), nullptr, false};
  }
  return Planned{world_.Tx(world_.admin(0), DeactivateUser{world_.NewKey(), "none"}), nullptr,
                 true};
}

void RandomRun::Step() {
  const std::size_t count = 1 + world_.rng()() % 4;
  single_ = count == 1;
  std::vector<Planned> plan;
  std::vector<Transaction> txs;
  for (std::size_t i = 0; i < count; ++i) {
    plan.push_back(Next());
    txs.push_back(plan.back().tx);
  }
  static constexpr std::uint64_t kPauses[] = {0, 1000, 30'000, 600'000};
  auto result = world_.Commit(txs, kPauses[world_.rng()() % 4]);
  for (std::size_t i = 0; i < plan.size(); ++i) {
    const auto& r = result.results[i];
    if (r.accepted()) {
      ++accepted_;
      INFO("transaction " << i << " of block " << world_.height().ToString() << ", payload "
                          << plan[i].tx.payload->index());
      CHECK_FALSE(plan[i].must_reject);
      if (plan[i].on_accept) plan[i].on_accept();
      committed_.push_back(plan[i].tx);
    } else {
      ++rejected_;
    }
  }
}

void RandomRun::CheckInvariants() {
  auto view = world_.View();
  for (const auto& r : records_) {
    auto envelopes = EnvelopesOf(view, r.id);
    REQUIRE(envelopes.has_value());
    auto entitled = ModelEntitled(r);
    for (const auto& e : *envelopes) {
      INFO("record " << r.id.ToHex() << " envelope of " << e.institution_id
                     << (r.erased ? " (erased record)" : ""));
      CHECK(entitled.count(e.institution_id) == 1);
    }
  }
  // Every user against every record: the chain's policy equals the model's.
  for (const auto& u : users_) {
    for (const auto& r : records_) {
      auto d = EvaluateRead(view, u.key, r.id, world_.now());
      REQUIRE(d.has_value());
      const bool expected = ModelMayRead(u, r);
      if (d->allowed != expected) {
        FAIL_CHECK("user " << u.key.ShortHex() << " record " << r.id.ShortHex() << " chain says "
                           << d->allowed << " model says " << expected << " at " << world_.now());
      }
    }
  }
}

}  // namespace ertr::testing
