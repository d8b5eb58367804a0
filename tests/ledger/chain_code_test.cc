// Every rule of docs/spec/ledger.md, one scenario each, through the real chain code.

#include <catch2/catch.hpp>

#include "ledger/policy.h"
#include "ledger/queries.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "storage/keys.h"
#include "storage/stores.h"
#include "tests/ledger/ledger_world.h"

namespace ertr::ledger {
namespace {

using testing::LedgerWorld;

LedgerWorld MakeWorld(int institutions = 3, bool benchmark = false,
                      bool block_time_in_state = false) {
  ChainParameters params;
  params.benchmark_mode = benchmark;
  params.block_time_in_state = block_time_in_state;
  return LedgerWorld(storage::MakeMemoryStores().state, institutions, 7, params);
}

RejectReason ReasonOf(const std::optional<Rejection>& r) {
  INFO("expected a rejection");
  REQUIRE(r.has_value());
  return r->reason;
}

ReadDecision Read(LedgerWorld& w, const crypto::PublicKey& user, const RecordId& record) {
  auto d = EvaluateRead(w.View(), user, record, w.now());
  REQUIRE(d.has_value());
  return *d;
}

bool HasEnvelope(LedgerWorld& w, const RecordId& r, int inst) {
  auto v = w.View().Get(keys::Envelope(r, w.inst(inst)));
  REQUIRE(v.has_value());
  return v->has_value();
}

GrantConsent GrantTo(LedgerWorld& w, const Pseudonym& p, Grantee who,
                     ConsentScope scope = ScopeAll{}, std::uint64_t expires = 0) {
  return GrantConsent{w.NewId<GrantId>(), p, std::move(who), std::move(scope), expires};
}

// A record of hosp-a's patient, submitted after the patient granted hosp-b: hosp-b got its
// envelope with the submission.
struct SharedWithB {
  LedgerWorld w = MakeWorld();
  crypto::PublicKey patient_key = w.NewKey();
  Pseudonym patient = w.AddPatient(0, patient_key);
  crypto::PublicKey uploader = w.AddUser(0, Role::kPhysician);
  RecordId record = [this] {
    w.MustApply(patient_key, GrantTo(w, patient, GranteeInstitution{"hosp-b"}));
    return w.AddRecord(uploader, 0, patient, RecordKind::kRtPlan, {1});
  }();
};

TEST_CASE("outcome keys are the ones the RocksDB store keeps apart", "[unit][ledger]") {
  // storage/keys.h routes exactly these keys to the "outcomes" column family (ADR 0017); the two
  // layouts must not drift apart.
  const auto id = crypto::Hash(AsBytes("a transaction"));
  CHECK(storage::keys::IsOutcomeKey(keys::Outcome(id)));
  CHECK_FALSE(storage::keys::IsOutcomeKey(keys::Nonce(crypto::PublicKey{}, 1)));
  CHECK_FALSE(storage::keys::IsOutcomeKey(keys::Record(RecordId{})));
}

TEST_CASE("genesis writes the members and applies only once", "[unit][ledger]") {
  auto w = MakeWorld(4);
  auto chain = LoadChain(w.View());
  REQUIRE(chain.has_value());
  REQUIRE(chain->has_value());
  CHECK((*chain)->validators == std::vector<std::string>{"hosp-a", "hosp-b", "hosp-c", "hosp-d"});
  auto admin = w.View().Load<UserState>(keys::User(w.admin(2)));
  REQUIRE(admin.has_value());
  REQUIRE(admin->has_value());
  CHECK((*admin)->role == Role::kAdmin);
  CHECK((*admin)->institution_id == "hosp-c");

  ChainCode code(w.verifier());
  Genesis again;
  again.chain_id = w.chain_id();
  again.institutions.push_back(Institution{"hosp-z", "Z", w.NewKey(), {}, {w.admin(0)}});
  auto tx = w.Tx(w.admin(0), again);
  auto second = code.ExecuteGenesis(tx, w.store());
  REQUIRE_FALSE(second.has_value());
  CHECK(second.error().code() == StatusCode::kFailedPrecondition);

  // In a block, a genesis is refused with its reason.
  CHECK(ReasonOf(w.Apply(w.admin(0), again)) == RejectReason::kGenesisNotAllowed);
}

TEST_CASE("a chain whose genesis asks keeps the effective block time in its state",
          "[unit][ledger]") {
  // ADR 0037: the state root then covers the time, so a state transferred at a certified
  // checkpoint carries it. Two worlds of the same seed: the same keys and transactions.
  auto timed = MakeWorld(2, false, true);
  auto plain = MakeWorld(2);
  auto time_of = [](LedgerWorld& w) {
    auto t = LoadBlockTime(w.View());
    REQUIRE(t.has_value());
    return *t;
  };
  auto genesis_time = time_of(timed);
  REQUIRE(genesis_time.has_value());
  CHECK(genesis_time->height == 0);
  CHECK(genesis_time->time_ms == timed.now());
  CHECK_FALSE(time_of(plain).has_value());
  // "c/chain" is encoded as before the parameter existed: older chains keep their roots.
  auto chain_bytes = [](LedgerWorld& w) {
    auto v = w.View().Get(keys::Chain());
    REQUIRE(v.has_value());
    REQUIRE(v->has_value());
    return **v;
  };
  CHECK(chain_bytes(timed) == chain_bytes(plain));

  // Every block writes it, empty or not, and at an unchanged time; nothing else differs.
  const auto user = timed.NewKey();
  REQUIRE(plain.NewKey() == user);
  const std::vector<std::vector<Transaction>> blocks = {
      {}, {timed.Tx(timed.admin(0), RegisterUser{"hosp-a", user, Role::kPhysician, "p1"})}, {}};
  const std::vector<std::vector<Transaction>> same = {
      {}, {plain.Tx(plain.admin(0), RegisterUser{"hosp-a", user, Role::kPhysician, "p1"})}, {}};
  const std::uint64_t advances[] = {1000, 0, 250};
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    auto with = timed.Commit(blocks[i], advances[i]);
    auto without = plain.Commit(same[i], advances[i]);
    REQUIRE(with.results.size() == without.results.size());
    auto t = time_of(timed);
    REQUIRE(t.has_value());
    CHECK(t->height == timed.height().value());
    CHECK(t->time_ms == timed.now());
    auto it = with.writes.writes.find(keys::BlockTime());
    REQUIRE(it != with.writes.writes.end());
    with.writes.writes.erase(it);
    CHECK(with.writes.writes == without.writes.writes);
    CHECK_FALSE(time_of(plain).has_value());
  }
  CHECK(timed.height().value() == 3);
  CHECK(timed.now() == genesis_time->time_ms + 1250);
}

TEST_CASE("genesis refuses shared keys and a signer that is no admin", "[unit][ledger]") {
  auto store = storage::MakeMemoryStores().state;
  auto w = MakeWorld(1);
  ChainCode code(w.verifier());
  auto key = w.NewKey();
  Genesis g;
  g.chain_id = w.chain_id();
  g.institutions.push_back(Institution{"hosp-a", "A", key, {}, {key}});
  auto shared = code.ExecuteGenesis(w.Tx(key, g), *store);
  REQUIRE_FALSE(shared.has_value());
  CHECK(shared.error().message().find("validator_key") == std::string::npos);
  CHECK(shared.error().message().find("admin_keys[0]") != std::string::npos);

  auto admin = w.NewKey();
  g.institutions[0].admin_keys = {admin};
  auto outsider = code.ExecuteGenesis(w.Tx(w.NewKey(), g), *store);
  REQUIRE_FALSE(outsider.has_value());
  CHECK(outsider.error().message().find("signer") != std::string::npos);
  CHECK(code.ExecuteGenesis(w.Tx(admin, g), *store).has_value());
}

TEST_CASE("users are registered and deactivated by their institution's admin", "[unit][ledger]") {
  auto w = MakeWorld();
  auto physician = w.AddUser(0, Role::kPhysician);
  auto key = w.NewKey();
  CHECK(ReasonOf(w.Apply(physician, RegisterUser{"hosp-a", key, Role::kPhysician, "x"})) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(w.admin(1), RegisterUser{"hosp-a", key, Role::kPhysician, "x"})) ==
        RejectReason::kWrongInstitution);
  CHECK(ReasonOf(w.Apply(w.NewKey(), RegisterUser{"hosp-a", key, Role::kPhysician, "x"})) ==
        RejectReason::kUnknownSigner);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterUser{"hosp-q", key, Role::kPhysician, "x"})) ==
        RejectReason::kUnknownInstitution);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterUser{"hosp-a", physician, Role::kPhysician, "x"})) ==
        RejectReason::kAlreadyExists);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterUser{"hosp-a", w.node(1), Role::kPhysician, "x"})) ==
        RejectReason::kAlreadyExists);
  auto bad_handle = w.Apply(w.admin(0), RegisterUser{"hosp-a", key, Role::kPhysician, "Jane Doe"});
  CHECK(ReasonOf(bad_handle) == RejectReason::kMalformed);
  CHECK(bad_handle->field == "register_user.staff_handle");

  auto patient = w.AddPatient(0);
  w.MustApply(w.admin(0), DeactivateUser{physician, "left-department"});
  // A deactivated user can do nothing further.
  CHECK(ReasonOf(w.Apply(physician, w.RecordPayload(0, patient, RecordKind::kRtPlan, {}))) ==
        RejectReason::kDeactivatedUser);
  CHECK(ReasonOf(w.Apply(w.admin(0), DeactivateUser{physician, "again"})) ==
        RejectReason::kDeactivatedUser);
  CHECK(ReasonOf(w.Apply(w.admin(1), DeactivateUser{w.admin(0), "hostile"})) ==
        RejectReason::kWrongInstitution);
}

TEST_CASE("an institution keeps at least one active admin", "[unit][ledger]") {
  auto w = MakeWorld();
  CHECK(ReasonOf(w.Apply(w.admin(0), DeactivateUser{w.admin(0), "rotate"})) ==
        RejectReason::kLastAdmin);
  auto second = w.AddUser(0, Role::kAdmin);
  w.MustApply(second, DeactivateUser{w.admin(0), "rotate"});
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "x"})) ==
        RejectReason::kDeactivatedUser);
}

TEST_CASE("patients are registered by their home institution under a pseudonym", "[unit][ledger]") {
  auto w = MakeWorld();
  auto integrator = w.AddUser(0, Role::kIntegrator);
  auto physician = w.AddUser(0, Role::kPhysician);
  auto p = w.NewId<Pseudonym>();
  CHECK(ReasonOf(w.Apply(physician, RegisterPatient{p, "hosp-a", {}})) == RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(w.admin(1), RegisterPatient{p, "hosp-a", {}})) ==
        RejectReason::kWrongInstitution);
  w.MustApply(integrator, RegisterPatient{p, "hosp-a", {}});
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterPatient{p, "hosp-a", {}})) ==
        RejectReason::kAlreadyExists);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterPatient{Pseudonym(), "hosp-a", {}})) ==
        RejectReason::kMalformed);
}

TEST_CASE("records are submitted by clinical staff of the uploading institution",
          "[unit][ledger]") {
  auto w = MakeWorld();
  auto physicist = w.AddUser(0, Role::kPhysicist);
  auto therapist = w.AddUser(0, Role::kTherapist);
  auto auditor = w.AddUser(0, Role::kAuditor);
  auto other = w.AddUser(1, Role::kPhysician);
  auto patient = w.AddPatient(0);

  CHECK(ReasonOf(w.Apply(therapist, w.RecordPayload(0, patient, RecordKind::kRtPlan, {}))) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(auditor, w.RecordPayload(0, patient, RecordKind::kRtPlan, {}))) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(other, w.RecordPayload(0, patient, RecordKind::kRtPlan, {}))) ==
        RejectReason::kWrongInstitution);
  CHECK(ReasonOf(w.Apply(physicist, w.RecordPayload(0, w.NewId<Pseudonym>(), RecordKind::kRtPlan,
                                                    {}))) == RejectReason::kUnknownPatient);
  // No consent for hosp-b: its envelope is refused.
  auto with_b = w.Apply(physicist, w.RecordPayload(0, patient, RecordKind::kRtPlan, {1}));
  CHECK(ReasonOf(with_b) == RejectReason::kNotEntitled);
  CHECK(with_b->field == "submit_record.envelopes[1].institution_id");
  auto no_own = w.RecordPayload(0, patient, RecordKind::kRtPlan, {});
  no_own.envelopes[0].institution_id = "hosp-b";
  CHECK(ReasonOf(w.Apply(physicist, no_own)) == RejectReason::kMalformed);
  auto bad_locator = w.RecordPayload(0, patient, RecordKind::kRtPlan, {});
  bad_locator.locator.content_digest = w.NewId<crypto::Digest>();
  CHECK(ReasonOf(w.Apply(physicist, bad_locator)) == RejectReason::kMalformed);

  auto submit = w.RecordPayload(0, patient, RecordKind::kRtBeamsTreatmentRecord, {});
  w.MustApply(physicist, submit);
  CHECK(ReasonOf(w.Apply(physicist, submit)) == RejectReason::kAlreadyExists);
  auto record = w.View().Load<RecordState>(keys::Record(submit.record_id));
  REQUIRE(record.has_value());
  REQUIRE(record->has_value());
  CHECK((*record)->time_ms == w.now() - 1000);  // the block time of the submission
  CHECK((*record)->uploader_user == physicist);
  CHECK(HasEnvelope(w, submit.record_id, 0));
}

TEST_CASE("consent: default care team, grant, key share, revoke", "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient_key = w.NewKey();
  auto patient = w.AddPatient(0, patient_key);
  auto uploader = w.AddUser(0, Role::kPhysician);
  auto a_therapist = w.AddUser(0, Role::kTherapist);
  auto a_admin_reader = w.admin(0);
  auto b_physician = w.AddUser(1, Role::kPhysician);
  auto record = w.AddRecord(uploader, 0, patient);

  CHECK(Read(w, a_therapist, record).basis == AccessBasis::kCareTeam);
  CHECK(Read(w, a_admin_reader, record).denial->reason == RejectReason::kWrongRole);
  CHECK(Read(w, b_physician, record).denial->reason == RejectReason::kNoConsent);
  CHECK(ReasonOf(w.Apply(w.node(0), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}})) ==
        RejectReason::kNotEntitled);
  // Only the patient (or the home admin) grants.
  CHECK(ReasonOf(w.Apply(uploader, GrantTo(w, patient, GranteeInstitution{"hosp-b"}))) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(w.admin(1), GrantTo(w, patient, GranteeInstitution{"hosp-b"}))) ==
        RejectReason::kWrongRole);

  auto grant = GrantTo(w, patient, GranteeInstitution{"hosp-b"});
  w.MustApply(patient_key, grant);
  auto decision = Read(w, b_physician, record);
  CHECK(decision.allowed);
  CHECK(decision.basis == AccessBasis::kGrant);
  CHECK(decision.grant == grant.grant_id);
  auto missing = MissingEnvelopes(w.View(), record, w.now());
  REQUIRE(missing.has_value());
  CHECK(*missing == std::vector<std::string>{"hosp-b"});

  // A node without the key cannot share it; a node with it can, once.
  CHECK(ReasonOf(w.Apply(w.node(2), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}})) ==
        RejectReason::kNoKeyAccess);
  CHECK(ReasonOf(w.Apply(uploader, KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}})) ==
        RejectReason::kUnknownSigner);
  w.MustApply(w.node(0), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}});
  CHECK(HasEnvelope(w, record, 1));
  CHECK(ReasonOf(w.Apply(w.node(0), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}})) ==
        RejectReason::kAlreadyExists);
  // hosp-b holds an envelope now, but only the uploader's node passes the key on (ADR 0039).
  CHECK(ReasonOf(w.Apply(w.node(1), KeyShare{record, {"hosp-c", w.NewId<SealedKey>()}})) ==
        RejectReason::kNoKeyAccess);
  CHECK(ReasonOf(w.Apply(w.node(0), KeyShare{record, {"hosp-c", w.NewId<SealedKey>()}})) ==
        RejectReason::kNotEntitled);

  // The grant covers records submitted after it, so their envelope for hosp-b is accepted.
  auto later = w.AddRecord(uploader, 0, patient, RecordKind::kRtPlan, {1});
  CHECK(HasEnvelope(w, later, 1));

  w.MustApply(patient_key, RevokeConsent{grant.grant_id, patient});
  CHECK(Read(w, b_physician, record).denial->reason == RejectReason::kRevokedGrant);
  CHECK_FALSE(HasEnvelope(w, record, 1));
  CHECK_FALSE(HasEnvelope(w, later, 1));
  CHECK(HasEnvelope(w, record, 0));
  {
    // Withdrawn by the patient's own key, acting at its home institution (hosp-a).
    auto trail = PatientAuditTrail(w.View(), patient);
    REQUIRE(trail.has_value());
    REQUIRE(trail->size() >= 2);
    for (auto e = trail->rbegin(); e != trail->rbegin() + 2; ++e) {
      CHECK(e->kind == AuditKind::kEnvelopeWithdrawn);
      CHECK(e->actor == patient_key);
      CHECK(e->actor_institution == "hosp-a");
    }
  }
  CHECK(ReasonOf(w.Apply(patient_key, RevokeConsent{grant.grant_id, patient})) ==
        RejectReason::kRevokedGrant);
  CHECK(ReasonOf(w.Apply(patient_key, RevokeConsent{w.NewId<GrantId>(), patient})) ==
        RejectReason::kUnknownGrant);
  CHECK(ReasonOf(w.Apply(w.node(0), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}})) ==
        RejectReason::kNotEntitled);

  auto grants = GrantsOfPatient(w.View(), patient);
  REQUIRE(grants.has_value());
  REQUIRE(grants->size() == 1);
  CHECK(grants->front().revoked);
}

TEST_CASE("grant scopes: a role, one user, some kinds, one record", "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient = w.AddPatient(0);
  auto uploader = w.AddUser(0, Role::kPhysicist);
  auto b_physician = w.AddUser(1, Role::kPhysician);
  auto b_physicist = w.AddUser(1, Role::kPhysicist);
  auto c_therapist = w.AddUser(2, Role::kTherapist);
  auto plan = w.AddRecord(uploader, 0, patient, RecordKind::kRtPlan);
  auto beams = w.AddRecord(uploader, 0, patient, RecordKind::kRtBeamsTreatmentRecord);

  w.MustApply(w.admin(0), GrantTo(w, patient, GranteeRole{"hosp-b", Role::kPhysician},
                                  ScopeKinds{{RecordKind::kRtPlan}}));
  CHECK(Read(w, b_physician, plan).allowed);
  CHECK_FALSE(Read(w, b_physician, beams).allowed);
  CHECK_FALSE(Read(w, b_physicist, plan).allowed);

  w.MustApply(w.admin(0), GrantTo(w, patient, GranteeUser{c_therapist}, ScopeRecord{beams}));
  CHECK(Read(w, c_therapist, beams).allowed);
  CHECK_FALSE(Read(w, c_therapist, plan).allowed);
  // The user's institution becomes entitled to the key of that record only.
  auto missing = MissingEnvelopes(w.View(), beams, w.now());
  REQUIRE(missing.has_value());
  CHECK(*missing == std::vector<std::string>{"hosp-c"});

  auto other_patient = w.AddPatient(0);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, other_patient, GranteeUser{c_therapist},
                                             ScopeRecord{beams}))) == RejectReason::kUnknownRecord);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, patient, GranteeUser{w.NewKey()}))) ==
        RejectReason::kUnknownUser);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, patient, GranteeInstitution{"hosp-x"}))) ==
        RejectReason::kUnknownInstitution);
  CHECK(ReasonOf(
            w.Apply(w.admin(0), GrantTo(w, patient, GranteeInstitution{"hosp-b"},
                                        ScopeKinds{{RecordKind::kRtPlan, RecordKind::kRtPlan}}))) ==
        RejectReason::kMalformed);
}

TEST_CASE("an expired grant stops reads and takes its envelopes with it", "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient = w.AddPatient(0);
  auto uploader = w.AddUser(0, Role::kPhysician);
  auto b_physician = w.AddUser(1, Role::kPhysician);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, patient, GranteeInstitution{"hosp-b"}, ScopeAll{},
                                             w.now()))) == RejectReason::kBadTime);
  w.MustApply(w.admin(0),
              GrantTo(w, patient, GranteeInstitution{"hosp-b"}, ScopeAll{}, w.now() + 60'000));
  auto record = w.AddRecord(uploader, 0, patient, RecordKind::kRtDose, {1});
  CHECK(Read(w, b_physician, record).allowed);
  CHECK(HasEnvelope(w, record, 1));

  w.Commit({}, 60'000);  // the block after the expiry
  CHECK(Read(w, b_physician, record).denial->reason == RejectReason::kExpiredGrant);
  CHECK_FALSE(HasEnvelope(w, record, 1));
  CHECK(HasEnvelope(w, record, 0));
  auto trail = PatientAuditTrail(w.View(), patient);
  REQUIRE(trail.has_value());
  CHECK(trail->back().kind == AuditKind::kEnvelopeWithdrawn);
  CHECK(trail->back().detail == "hosp-b");
  CHECK(trail->back().actor_institution.empty());  // an expiry: no one acted
}

TEST_CASE("break-glass opens bounded, flagged emergency access", "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient = w.AddPatient(0);
  auto uploader = w.AddUser(0, Role::kPhysician);
  auto b_physician = w.AddUser(1, Role::kPhysician);
  auto b_physicist = w.AddUser(1, Role::kPhysicist);
  auto record = w.AddRecord(uploader, 0, patient);

  CHECK(ReasonOf(w.Apply(b_physicist, BreakGlass{patient, "emergency", 600'000})) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(b_physician, BreakGlass{patient, "emergency", 1000})) ==
        RejectReason::kBadTime);
  CHECK(ReasonOf(w.Apply(b_physician, BreakGlass{patient, "a reason with spaces", 600'000})) ==
        RejectReason::kMalformed);
  w.MustApply(b_physician, BreakGlass{patient, "unconscious-patient", 600'000});
  CHECK(Read(w, b_physician, record).basis == AccessBasis::kBreakGlass);
  CHECK_FALSE(Read(w, b_physicist, record).allowed);
  w.MustApply(w.node(0), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}});
  w.MustApply(w.node(1),
              RecordAccess{{AccessEvent{record, b_physician, "hosp-b", AccessOutcome::kBreakGlass,
                                        "emergency-care", w.now(), ""}}});
  auto trail = PatientAuditTrail(w.View(), patient);
  REQUIRE(trail.has_value());
  int flagged = 0;
  for (const auto& e : *trail) flagged += e.flagged ? 1 : 0;
  CHECK(flagged == 2);  // the opening and the read
  CHECK(trail->back().kind == AuditKind::kAccessBreakGlass);

  w.Commit({}, 600'000);
  CHECK_FALSE(Read(w, b_physician, record).allowed);
  CHECK_FALSE(HasEnvelope(w, record, 1));
}

TEST_CASE("a holder that is not the uploader cannot take a newcomer's envelope first",
          "[unit][ledger]") {
  // hosp-b holds an envelope through a grant. When the patient grants hosp-c, a faulty hosp-b
  // node could put a sealed key that does not open in hosp-c's place before the uploader's share,
  // and hosp-c could then never get the real key: an envelope is accepted once per institution.
  SharedWithB s;
  auto& w = s.w;
  const auto& record = s.record;
  REQUIRE(HasEnvelope(w, record, 1));
  w.MustApply(s.patient_key, GrantTo(w, s.patient, GranteeInstitution{"hosp-c"}));
  auto missing = MissingEnvelopes(w.View(), record, w.now());
  REQUIRE(missing.has_value());
  CHECK(*missing == std::vector<std::string>{"hosp-c"});

  auto refused = w.Apply(w.node(1), KeyShare{record, {"hosp-c", w.NewId<SealedKey>()}});
  REQUIRE(refused.has_value());
  CHECK(refused->reason == RejectReason::kNoKeyAccess);
  CHECK(refused->field == "signer");
  CHECK(refused->message.find("'hosp-a'") != std::string::npos);  // who shares it
  CHECK_FALSE(HasEnvelope(w, record, 2));

  // The uploader's share is the one that lands, once.
  w.MustApply(w.node(0), KeyShare{record, {"hosp-c", w.NewId<SealedKey>()}});
  CHECK(HasEnvelope(w, record, 2));
  auto trail = RecordAuditTrail(w.View(), record);
  REQUIRE(trail.has_value());
  REQUIRE_FALSE(trail->empty());
  CHECK(trail->back().kind == AuditKind::kKeyShared);
  CHECK(trail->back().actor_institution == "hosp-a");
  CHECK(trail->back().detail == "hosp-c");
}

TEST_CASE("erasure removes the keys and answers erased from then on", "[unit][ledger]") {
  SharedWithB s;
  auto& w = s.w;
  const auto& patient_key = s.patient_key;
  const auto& patient = s.patient;
  const auto& uploader = s.uploader;
  const auto& record = s.record;
  CHECK(ReasonOf(w.Apply(uploader, EraseRecord{record, "patient-request"})) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(w.admin(1), EraseRecord{record, "patient-request"})) ==
        RejectReason::kWrongRole);
  w.MustApply(patient_key, EraseRecord{record, "gdpr-art-17"});
  CHECK_FALSE(HasEnvelope(w, record, 0));
  CHECK_FALSE(HasEnvelope(w, record, 1));
  CHECK(Read(w, uploader, record).denial->reason == RejectReason::kErased);
  CHECK(ReasonOf(w.Apply(w.admin(0), EraseRecord{record, "again"})) == RejectReason::kErased);
  CHECK(ReasonOf(w.Apply(w.node(0), KeyShare{record, {"hosp-c", w.NewId<SealedKey>()}})) ==
        RejectReason::kErased);
  auto r = w.View().Load<RecordState>(keys::Record(record));
  REQUIRE(r.has_value());
  REQUIRE(r->has_value());
  CHECK((*r)->erased);
  CHECK_FALSE((*r)->ciphertext_digest.IsZero());  // the chain stays verifiable
  auto visible = RecordsVisibleTo(w.View(), patient, uploader, w.now());
  REQUIRE(visible.has_value());
  CHECK(visible->empty());
}

TEST_CASE("access events are recorded by the serving node and flagged when unjustified",
          "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient = w.AddPatient(0);
  auto uploader = w.AddUser(0, Role::kPhysician);
  auto b_physician = w.AddUser(1, Role::kPhysician);
  auto record = w.AddRecord(uploader, 0, patient);
  AccessEvent read{record, uploader, "hosp-a", AccessOutcome::kGranted, "treatment", w.now(), ""};
  AccessEvent denied{record,      b_physician, "hosp-b",    AccessOutcome::kDenied,
                     "treatment", w.now(),     "no_consent"};
  AccessEvent claimed{record,      b_physician, "hosp-b", AccessOutcome::kGranted,
                      "treatment", w.now(),     ""};
  CHECK(ReasonOf(w.Apply(w.node(0), RecordAccess{{denied}})) == RejectReason::kWrongInstitution);
  CHECK(ReasonOf(w.Apply(uploader, RecordAccess{{read}})) == RejectReason::kUnknownSigner);
  w.MustApply(w.node(0), RecordAccess{{read}});
  w.MustApply(w.node(1), RecordAccess{{denied, claimed}});
  auto trail = RecordAuditTrail(w.View(), record);
  REQUIRE(trail.has_value());
  REQUIRE(trail->size() == 4);
  CHECK((*trail)[0].kind == AuditKind::kRecordSubmitted);
  CHECK((*trail)[1].kind == AuditKind::kAccessGranted);
  CHECK_FALSE((*trail)[1].flagged);
  CHECK((*trail)[2].kind == AuditKind::kAccessDenied);
  CHECK((*trail)[2].detail == "treatment/no_consent");
  CHECK((*trail)[3].kind == AuditKind::kAccessGranted);
  CHECK((*trail)[3].flagged);  // the chain's policy would not have granted it
}

TEST_CASE("a block whose signatures are certified executes to the same state without checking them",
          "[unit][ledger]") {
  // Block sync executes certified blocks so (ADR 0038): the outcome must be the one a validator
  // that checks every signature reaches.
  auto checked = MakeWorld();
  auto certified = MakeWorld();
  REQUIRE(checked.store().StateRoot() == certified.store().StateRoot());
  auto block = [](LedgerWorld& w) {
    auto key = w.NewKey();
    return std::vector<Transaction>{
        w.Tx(w.admin(0), RegisterUser{"hosp-a", key, Role::kPhysician, "md-1"}),
        w.Tx(w.admin(1), RegisterUser{"hosp-b", w.NewKey(), Role::kPhysician, "md-2"}),
        w.Tx(w.admin(0), RegisterUser{"hosp-a", key, Role::kPhysician, "md-1"})};  // a duplicate
  };
  const auto a = checked.Commit(block(checked));
  const auto b = certified.Commit(block(certified), 1000, /*signatures_certified=*/true);
  REQUIRE(a.results.size() == 3);
  REQUIRE(b.results.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(a.results[i].tx_id == b.results[i].tx_id);
    CHECK(a.results[i].accepted() == b.results[i].accepted());
  }
  CHECK_FALSE(a.results[2].accepted());
  CHECK(checked.store().StateRoot() == certified.store().StateRoot());
  // The check is really skipped: a bad signature (which a certified block never holds) passes.
  auto forged = certified.Tx(certified.admin(0),
                             RegisterUser{"hosp-a", certified.NewKey(), Role::kPhysician, "x"});
  forged.signed_tx.signature = crypto::Signature();
  CHECK(certified.Commit({forged}, 1000, true).results[0].accepted());
}

TEST_CASE("replay protection, chain id, signature, deadline and size", "[unit][ledger]") {
  auto w = MakeWorld();
  auto tx = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "x"});
  auto first = w.Commit({tx, tx});
  CHECK(first.results[0].accepted());
  CHECK(ReasonOf(first.results[1].rejection) == RejectReason::kReplayedNonce);
  auto replay = w.Commit({tx});
  CHECK(ReasonOf(replay.results[0].rejection) == RejectReason::kReplayedNonce);
  auto outcome = TransactionOutcome(w.View(), tx.signed_tx.id);
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->has_value());
  CHECK((*outcome)->accepted);  // the first outcome stands
  CHECK((*outcome)->height == 1);

  auto forged = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "y"});
  forged.signed_tx.signature = crypto::Signature();
  auto bad = w.Commit({forged});
  CHECK(ReasonOf(bad.results[0].rejection) == RejectReason::kBadSignature);
  // A forged transaction does not burn its signer's nonce.
  auto nonce = w.View().Get(keys::Nonce(w.admin(0), forged.signed_tx.header.nonce));
  REQUIRE(nonce.has_value());
  CHECK_FALSE(nonce->has_value());

  sim::FakeKeys other_keys;
  TransactionHeader h;
  h.chain_id = "another-chain";
  h.nonce = 99;
  auto foreign = proto::MakeTransaction(h, DeactivateUser{w.admin(0), "x"},
                                        sim::FakeSigner(other_keys, w.admin(0)));
  REQUIRE(foreign.has_value());
  CHECK(ReasonOf(w.Commit({*foreign}).results[0].rejection) == RejectReason::kWrongChain);

  auto big = w.Tx(w.admin(0), NullOp{Bytes(300 * 1024, 7)});
  CHECK(ReasonOf(w.Commit({big}).results[0].rejection) == RejectReason::kOversize);
  CHECK(ReasonOf(w.Apply(w.admin(0), NullOp{Bytes(8, 1)})) == RejectReason::kNotAllowed);
}

TEST_CASE("a transaction past its deadline is refused", "[unit][ledger]") {
  auto w = MakeWorld();
  w.Commit({});
  w.Commit({});
  auto late = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "x"}, 2);
  auto in_time = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "y"}, 3);
  auto r = w.Commit({late, in_time});  // height 3
  CHECK(ReasonOf(r.results[0].rejection) == RejectReason::kExpiredTransaction);
  CHECK(r.results[0].rejection->field == "valid_until_height");
  CHECK(r.results[1].accepted());
}

TEST_CASE("NullOp is accepted on a benchmark chain", "[unit][ledger]") {
  auto w = MakeWorld(1, true);
  w.MustApply(w.admin(0), NullOp{Bytes(64, 1)});
  // Unsigned (64 zero bytes, any signer): no signature check, no nonce, and not executed: it
  // writes nothing, not even its outcome (ADR 0023), accepted or rejected.
  auto unsigned_op = w.Tx(crypto::PublicKey(), NullOp{Bytes(8, 2)});
  unsigned_op.signed_tx.signature = crypto::Signature();
  const auto root = w.store().StateRoot();
  auto r = w.Commit({unsigned_op});
  REQUIRE(r.results[0].accepted());
  CHECK(r.writes.empty());
  CHECK(w.store().StateRoot() == root);
  auto outcome = TransactionOutcome(w.View(), unsigned_op.signed_tx.id);
  REQUIRE(outcome.has_value());
  CHECK_FALSE(outcome->has_value());
  // A node refuses a copy of a command its replica delivered; a copy ordered again after the
  // replicas forgot it is accepted again, with no effect.
  auto replay = w.Commit({unsigned_op});
  CHECK(replay.writes.empty());
  CHECK(replay.results[0].accepted());
  auto oversize = w.Tx(crypto::PublicKey(), NullOp{Bytes(300 * 1024, 3)});
  oversize.signed_tx.signature = crypto::Signature();
  auto big = w.Commit({oversize});
  CHECK(ReasonOf(big.results[0].rejection) == RejectReason::kOversize);
  CHECK(big.writes.empty());
  CHECK(w.store().StateRoot() == root);
  // A signed transaction on the same chain still leaves its outcome.
  auto user = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "x"});
  REQUIRE(w.Commit({user}).results[0].accepted());
  outcome = TransactionOutcome(w.View(), user.signed_tx.id);
  REQUIRE(outcome.has_value());
  CHECK(outcome->has_value());
}

TEST_CASE("an unsigned NullOp on a production chain is refused", "[unit][ledger]") {
  auto w = MakeWorld();
  auto unsigned_op = w.Tx(w.admin(0), NullOp{Bytes(8, 2)});
  unsigned_op.signed_tx.signature = crypto::Signature();
  CHECK(ReasonOf(w.Commit({unsigned_op}).results[0].rejection) == RejectReason::kBadSignature);
}

TEST_CASE("a malformed payload is rejected naming the field", "[unit][ledger]") {
  auto w = MakeWorld();
  auto tx = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "x"});
  tx.payload = Status::InvalidArgument("field 'register_user.user_key' must be 32 bytes, got 3");
  auto r = w.Commit({tx});
  REQUIRE(r.results[0].rejection.has_value());
  CHECK(r.results[0].rejection->reason == RejectReason::kMalformed);
  CHECK(r.results[0].rejection->message.find("register_user.user_key") != std::string::npos);
}

TEST_CASE("a forged copy cannot mask the real transaction's outcome", "[unit][ledger]") {
  auto w = MakeWorld();
  auto real = w.Tx(w.admin(0), RegisterUser{"hosp-a", w.NewKey(), Role::kPhysician, "x"});
  auto forged = real;
  forged.signed_tx.signature = crypto::Signature();
  auto r = w.Commit({forged, real});
  CHECK(ReasonOf(r.results[0].rejection) == RejectReason::kBadSignature);
  CHECK(r.results[1].accepted());
  auto outcome = TransactionOutcome(w.View(), real.signed_tx.id);
  REQUIRE(outcome.has_value());
  REQUIRE(outcome->has_value());
  CHECK((*outcome)->accepted);
  w.Commit({forged});
  outcome = TransactionOutcome(w.View(), real.signed_tx.id);
  REQUIRE(outcome.has_value());
  CHECK((*outcome)->accepted);
}

TEST_CASE("patient keys are bound by an admin and belong to nobody else", "[unit][ledger]") {
  auto w = MakeWorld();
  auto integrator = w.AddUser(0, Role::kIntegrator);
  CHECK(ReasonOf(w.Apply(integrator, RegisterPatient{w.NewId<Pseudonym>(), "hosp-a",
                                                     w.NewKey()})) == RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterPatient{w.NewId<Pseudonym>(), "hosp-a",
                                                     integrator})) == RejectReason::kAlreadyExists);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterPatient{w.NewId<Pseudonym>(), "hosp-a", w.node(1)})) ==
        RejectReason::kAlreadyExists);
  auto patient_key = w.NewKey();
  w.AddPatient(0, patient_key);
  CHECK(ReasonOf(w.Apply(w.admin(0), RegisterUser{"hosp-a", patient_key, Role::kPhysician, "x"})) ==
        RejectReason::kAlreadyExists);
}

TEST_CASE("a deactivated grantee entitles its institution no more", "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient = w.AddPatient(0);
  auto uploader = w.AddUser(0, Role::kPhysician);
  auto b_user = w.AddUser(1, Role::kPhysician);
  auto b_auditor = w.AddUser(1, Role::kAuditor);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, patient, GranteeUser{b_auditor}))) ==
        RejectReason::kWrongRole);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, patient, GranteeRole{"hosp-b", Role::kAdmin}))) ==
        RejectReason::kMalformed);
  w.MustApply(w.admin(0), GrantTo(w, patient, GranteeUser{b_user}));
  auto record = w.AddRecord(uploader, 0, patient, RecordKind::kRtPlan, {1});
  CHECK(HasEnvelope(w, record, 1));
  w.MustApply(w.admin(1), DeactivateUser{b_user, "left"});
  CHECK_FALSE(HasEnvelope(w, record, 1));
  auto trail = PatientAuditTrail(w.View(), patient);
  REQUIRE(trail.has_value());
  CHECK(trail->back().kind == AuditKind::kEnvelopeWithdrawn);
  CHECK(trail->back().actor == w.admin(1));
  CHECK(trail->back().actor_institution == "hosp-b");  // the deactivating admin's
  CHECK(ReasonOf(w.Apply(w.node(0), KeyShare{record, {"hosp-b", w.NewId<SealedKey>()}})) ==
        RejectReason::kNotEntitled);
  CHECK(ReasonOf(w.Apply(w.admin(0), GrantTo(w, patient, GranteeUser{b_user}))) ==
        RejectReason::kDeactivatedUser);
}

TEST_CASE("a break-glass read is flagged however the node reports it", "[unit][ledger]") {
  auto w = MakeWorld();
  auto patient = w.AddPatient(0);
  auto uploader = w.AddUser(0, Role::kPhysician);
  auto b_physician = w.AddUser(1, Role::kPhysician);
  auto record = w.AddRecord(uploader, 0, patient);
  w.MustApply(b_physician, BreakGlass{patient, "emergency", 600'000});
  w.MustApply(w.node(1), RecordAccess{{AccessEvent{record, b_physician, "hosp-b",
                                                   AccessOutcome::kGranted, "care", w.now(), ""}}});
  auto trail = RecordAuditTrail(w.View(), record);
  REQUIRE(trail.has_value());
  CHECK(trail->back().kind == AuditKind::kAccessGranted);
  CHECK(trail->back().flagged);
}

// Counts the reads that reach the state under it, per key; fails the first read of `fail_once`.
class CountingReader final : public StateReader {
 public:
  explicit CountingReader(const StateReader& base) : base_(base) {}
  Result<std::optional<Bytes>> Get(ByteSpan key) const override {
    Bytes k(key.begin(), key.end());
    if (k == fail_once) {
      fail_once.clear();
      return Status::DataLoss("a stored value fails its checksum");
    }
    ++gets[k];
    return base_.Get(key);
  }
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const override {
    return base_.ScanPrefix(prefix, fn);
  }
  mutable std::map<Bytes, int> gets;
  mutable Bytes fail_once;

 private:
  const StateReader& base_;
};

TEST_CASE("a block reads each committed value once", "[unit][ledger]") {
  auto w = MakeWorld();
  auto physician = w.AddUser(0, Role::kPhysician);
  auto patient = w.AddPatient(0);
  w.MustApply(w.admin(0), GrantTo(w, patient, GranteeInstitution{w.inst(1)}));
  std::vector<Transaction> txs;
  for (int i = 0; i < 5; ++i) {
    txs.push_back(w.Tx(physician, w.RecordPayload(0, patient, RecordKind::kRtPlan, {1})));
  }
  CountingReader counting(w.store());
  ChainCode code(w.verifier());
  auto result = code.ExecuteBlock({w.height().Next(), w.now() + 1000}, txs, counting);
  REQUIRE(result.has_value());
  for (const auto& r : result->results) CHECK_FALSE(r.rejection.has_value());
  // Every record looks up both institutions (as holder and per envelope), its signer (twice) and
  // its patient: each reaches the store once in the block.
  CHECK(counting.gets.at(keys::Institution(w.inst(0))) == 1);
  CHECK(counting.gets.at(keys::Institution(w.inst(1))) == 1);
  CHECK(counting.gets.at(keys::User(physician)) == 1);
  CHECK(counting.gets.at(keys::Patient(patient)) == 1);
  for (const auto& [key, n] : counting.gets) {
    INFO(ToHex(key));
    CHECK(n == 1);
  }
}

TEST_CASE("a value that failed to read is read again", "[unit][ledger]") {
  auto w = MakeWorld();
  CountingReader counting(w.store());
  counting.fail_once = keys::Institution(w.inst(0));
  CachingStateReader cached(counting);
  CHECK(cached.Get(keys::Institution(w.inst(0))).error().code() == StatusCode::kDataLoss);
  auto again = cached.Get(keys::Institution(w.inst(0)));
  REQUIRE(again.has_value());
  CHECK(again->has_value());
  CHECK(cached.Get(keys::Institution(w.inst(0))).has_value());
  auto absent = cached.Get(keys::Institution("no-such-hospital"));
  REQUIRE(absent.has_value());
  CHECK_FALSE(absent->has_value());
  CHECK_FALSE(cached.Get(keys::Institution("no-such-hospital"))->has_value());
  CHECK(counting.gets.at(keys::Institution(w.inst(0))) == 1);
  CHECK(counting.gets.at(keys::Institution("no-such-hospital")) == 1);
  CHECK(cached.base_reads() == 3);  // the failed read, then one each
}

}  // namespace
}  // namespace ertr::ledger
