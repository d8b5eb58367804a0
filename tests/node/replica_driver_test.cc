// The replica's persistent state in the consensus log (ADR 0010): small state and one entry per
// prepared certificate, loaded back together; and the driver's rule that nothing depending on a
// save leaves before the sync that covers it returns (ADR 0027).

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include <spdlog/spdlog.h>

#include "node/replica_driver.h"
#include "proto/codec.h"
#include "proto/consensus_codec.h"
#include "proto/ledger_codec.h"
#include "storage/stores.h"
#include "tests/sim/fake_crypto.h"

namespace ertr::node {
namespace {

consensus::PreparedCertificate Prepared(std::uint64_t height, std::uint64_t view) {
  consensus::PreparedCertificate pc;
  pc.view = View(view);
  pc.proposal =
      consensus::MakeProposal("ertr-test", Height(height), 1000 + height, ReplicaId(0), {});
  return pc;
}

TEST_CASE("the replica state loads from its entry and one entry per prepared height",
          "[unit][node]") {
  auto stores = storage::MakeMemoryStores();
  consensus::PersistentState s;
  s.view = View(2);
  s.signed_votes[{View(2), Height(9)}] = crypto::DomainHash("t", AsBytes("a"));
  s.stable_height = Height(6);
  s.stable_root = crypto::DomainHash("t", AsBytes("root"));
  s.prepared[Height(9)] = Prepared(9, 2);  // not written by EncodeReplicaState
  StateDelta writes;
  writes.Put(ToBytes(kReplicaStateKey), proto::EncodeReplicaState(s));
  writes.Put(PreparedKey(Height(9)), proto::EncodePreparedCertificate(Prepared(9, 2)));
  writes.Put(PreparedKey(Height(11)), proto::EncodePreparedCertificate(Prepared(11, 1)));
  writes.Put(PreparedKey(Height(5)), proto::EncodePreparedCertificate(Prepared(5, 1)));  // stale
  REQUIRE(stores.consensus_log->Save(writes).ok());

  auto back = LoadReplicaState(*stores.consensus_log, Height(0));
  REQUIRE(back.has_value());
  CHECK(back->view == View(2));
  CHECK(back->signed_votes == s.signed_votes);
  CHECK(back->stable_height == Height(6));
  REQUIRE(back->prepared.size() == 2);  // height 5 is below the stable checkpoint
  CHECK(back->prepared.at(Height(9)).view == View(2));
  CHECK(back->prepared.at(Height(9)).proposal.digest == Prepared(9, 2).proposal.digest);
  CHECK(back->prepared.at(Height(11)).view == View(1));
  // Keys sort by height.
  CHECK(PreparedKey(Height(255)) < PreparedKey(Height(256)));

  // A damaged entry stops the node rather than losing a vote.
  StateDelta bad;
  bad.Put(PreparedKey(Height(12)), Bytes{0xff, 0x01});
  REQUIRE(stores.consensus_log->Save(bad).ok());
  auto damaged = LoadReplicaState(*stores.consensus_log, Height(0));
  REQUIRE_FALSE(damaged.has_value());
  CHECK(damaged.error().code() == StatusCode::kDataLoss);
}

// Three signed-transaction envelopes (unsigned: nothing here verifies them) and their ids.
std::vector<consensus::Transaction> Transactions(const std::string& tag) {
  std::vector<consensus::Transaction> out;
  for (int i = 0; i < 3; ++i) {
    ledger::SignedTransaction st;
    st.body = ToBytes(tag + " body " + std::to_string(i));
    const Bytes bytes = proto::EncodeSignedTransaction(st);
    out.push_back({*proto::PeekTransactionId(bytes), bytes});
  }
  return out;
}

consensus::PreparedCertificate PreparedWith(std::uint64_t height, const std::string& tag) {
  consensus::PreparedCertificate pc;
  pc.view = View(1);
  pc.proposal =
      consensus::MakeProposal("ertr-test", Height(height), 1000, ReplicaId(0), Transactions(tag));
  return pc;
}

TEST_CASE("a prepared certificate logged without its transactions gets them from its staged body",
          "[unit][node]") {
  auto stores = storage::MakeMemoryStores();
  auto& log = *stores.consensus_log;
  const auto nine = PreparedWith(9, "nine");
  StateDelta writes;
  writes.Put(PreparedKey(Height(9)), proto::EncodePreparedCertificateWithoutTransactions(nine));
  REQUIRE(log.Save(writes, {{Height(9), proto::EncodeBlockBody(nine.proposal.txs)}}).ok());

  auto back = LoadReplicaState(log, Height(0));
  REQUIRE(back.has_value());
  REQUIRE(back->prepared.count(Height(9)) == 1);
  const auto& proposal = back->prepared.at(Height(9)).proposal;
  CHECK(proposal.digest == nine.proposal.digest);
  CHECK(proposal.txs == nine.proposal.txs);  // bytes and ids
  CHECK(consensus::CheckProposal(proposal).ok());

  SECTION("without its body above the latest block, the log is damaged") {
    const auto ten = PreparedWith(10, "ten");
    StateDelta more;
    more.Put(PreparedKey(Height(10)), proto::EncodePreparedCertificateWithoutTransactions(ten));
    REQUIRE(log.Save(more).ok());
    auto damaged = LoadReplicaState(log, Height(0));
    REQUIRE_FALSE(damaged.has_value());
    CHECK(damaged.error().code() == StatusCode::kDataLoss);
    CHECK_THAT(damaged.error().message(), Catch::Contains("height 10"));
  }
  SECTION("a body staged for another proposal there, above the latest block, is damage too") {
    REQUIRE(
        log.Save({}, {{Height(9), proto::EncodeBlockBody(PreparedWith(9, "other").proposal.txs)}})
            .ok());
    auto damaged = LoadReplicaState(log, Height(0));
    REQUIRE_FALSE(damaged.has_value());
    CHECK(damaged.error().code() == StatusCode::kDataLoss);
  }
  // Blocks 1 to 9 decided, each with its own body, or the last with the body staged there.
  auto decide_up_to_nine = [&](bool ninth_as_staged) {
    for (std::uint64_t h = 1; h <= 9; ++h) {
      storage::StoredBlock b;
      b.height = Height(h);
      b.hash = crypto::Hash(AsBytes("block " + std::to_string(h)));
      b.header = ToBytes("header");
      b.body_stored = ninth_as_staged && h == 9;
      if (!b.body_stored) b.body = proto::EncodeBlockBody(PreparedWith(h, "decided").proposal.txs);
      b.certificate = ToBytes("certificate");
      REQUIRE(stores.blocks->Append(b, {}).ok());
    }
  };
  SECTION("superseded by a different block decided at its height, it is dropped") {
    decide_up_to_nine(false);
    auto after = LoadReplicaState(log, Height(9));
    REQUIRE(after.has_value());
    CHECK(after->prepared.empty());
  }
  SECTION("decided as prepared, it loads from the block's body") {
    decide_up_to_nine(true);
    auto after = LoadReplicaState(log, Height(9));
    REQUIRE(after.has_value());
    REQUIRE(after->prepared.count(Height(9)) == 1);
    CHECK(after->prepared.at(Height(9)).proposal.txs == nine.proposal.txs);
  }
}

// A consensus log whose syncs each wait until the test lets one finish.
class GatedLog final : public storage::ConsensusLogStore {
 public:
  explicit GatedLog(storage::ConsensusLogStore& inner) : inner_(inner) {}

  Status Save(const StateDelta& writes, const std::vector<storage::StagedBody>& bodies,
              bool sync) override {
    std::lock_guard lock(mu_);
    ++saves_;
    if (sync) ++synced_saves_;
    return inner_.Save(writes, bodies, sync);
  }
  Status Sync() override {
    std::unique_lock lock(mu_);
    ++syncs_started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_ > 0; });
    --released_;
    return fail_ ? Status::IoError("the disk is gone") : Status::Ok();
  }
  Result<std::vector<std::pair<Bytes, Bytes>>> LoadAll() const override { return inner_.LoadAll(); }
  Result<std::optional<Bytes>> LoadStagedBody(Height height) const override {
    return inner_.LoadStagedBody(height);
  }

  // Lets one waiting (or the next) sync return; failing if `fail`.
  void Release(bool fail = false) {
    std::lock_guard lock(mu_);
    fail_ = fail;
    ++released_;
    cv_.notify_all();
  }
  bool WaitSyncsStarted(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [&] { return syncs_started_ >= n; });
  }
  int saves() const {
    std::lock_guard lock(mu_);
    return saves_;
  }
  int synced_saves() const {
    std::lock_guard lock(mu_);
    return synced_saves_;
  }

 private:
  storage::ConsensusLogStore& inner_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int saves_ = 0;
  int synced_saves_ = 0;
  int syncs_started_ = 0;
  int released_ = 0;
  bool fail_ = false;
};

// Replica 1 of four (a backup in view 0) behind a driver on a gated log.
struct DrivenBackup {
  sim::FakeKeys keys;
  std::vector<std::unique_ptr<sim::FakeSigner>> signers;
  std::vector<crypto::PublicKey> pks;
  std::unique_ptr<sim::FakeVerifier> verifier;
  storage::LedgerStores stores = storage::MakeMemoryStores();
  GatedLog log{*stores.consensus_log};
  std::unique_ptr<consensus::Replica> replica;
  boost::asio::io_context io;
  std::vector<consensus::Message> sent;  // broadcasts and sends, in order
  std::optional<Status> fatal;
  std::unique_ptr<ReplicaDriver> driver;

  DrivenBackup() {
    for (std::uint8_t i = 0; i < 4; ++i) {
      std::array<std::uint8_t, 32> secret{};
      secret[0] = static_cast<std::uint8_t>(i + 1);
      pks.push_back(keys.Add(secret));
      signers.push_back(std::make_unique<sim::FakeSigner>(keys, pks.back()));
    }
    verifier = std::make_unique<sim::FakeVerifier>(keys);
    consensus::ReplicaConfig c;
    c.chain_id = "ertr-test";
    c.validators = *consensus::ValidatorSet::Create(pks);
    c.self = ReplicaId(1);
    replica = std::make_unique<consensus::Replica>(c, *signers[1], *verifier);
    DriverHooks hooks;
    hooks.send = [this](ReplicaId, const consensus::Message& m) { sent.push_back(m); };
    hooks.broadcast = [this](const consensus::Message& m) { sent.push_back(m); };
    hooks.deliver = [](const consensus::Deliver& d, bool) -> Result<crypto::Digest> {
      return d.proposal.digest;
    };
    hooks.request_sync = [](Height) {};
    hooks.on_fatal = [this](const Status& s) { fatal = s; };
    driver = std::make_unique<ReplicaDriver>(io, *replica, log, consensus::PersistentState{},
                                             std::move(hooks), spdlog::default_logger());
  }
  ~DrivenBackup() {
    for (int i = 0; i < 8; ++i) log.Release();  // no sync left waiting at the driver's end
    driver.reset();
  }

  consensus::PrePrepare Proposal() {
    // Stamped now: the driver gives the replica the wall clock, and a proposal's time must be near.
    const auto now =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    consensus::PrePrepare pp{View(0),
                             consensus::MakeProposal("ertr-test", Height(1), now, ReplicaId(0), {}),
                             ReplicaId(0),
                             {}};
    pp.signature =
        *signers[0]->Sign(crypto::SigningDomain::kPrePrepare, "ertr-test",
                          consensus::VotePayload(View(0), Height(1), pp.proposal.digest));
    return pp;
  }
  consensus::Prepare PrepareFrom(std::uint32_t r, const crypto::Digest& d) {
    consensus::Prepare p{{View(0), Height(1), d, ReplicaId(r), {}}};
    p.signature = *signers[r]->Sign(crypto::SigningDomain::kPrepare, "ertr-test",
                                    consensus::VotePayload(View(0), Height(1), d));
    return p;
  }
  void Receive(std::uint32_t from, consensus::Message m) {
    driver->Post(consensus::MessageReceived{ReplicaId(from), std::move(m)});
    io.restart();
    io.poll();
  }
  template <typename M>
  std::size_t Count() const {
    return static_cast<std::size_t>(std::count_if(
        sent.begin(), sent.end(), [](const auto& m) { return std::holds_alternative<M>(m); }));
  }
  // Runs the io thread's handlers until `done` (a sync's completion arrives from its thread).
  bool RunUntil(const std::function<bool()>& done) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < until) {
      io.restart();
      io.poll();
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return done();
  }
};

TEST_CASE("a vote leaves only after the sync of the save it depends on returns", "[unit][node]") {
  DrivenBackup b;
  const auto pp = b.Proposal();
  b.Receive(0, pp);
  // The PREPARE is the first vote above the durable horizon: saved, and held for its sync.
  REQUIRE(b.log.saves() == 1);
  REQUIRE(b.log.synced_saves() == 0);
  REQUIRE(b.log.WaitSyncsStarted(1));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  b.io.restart();
  b.io.poll();
  CHECK(b.Count<consensus::Prepare>() == 0);
  b.log.Release();
  REQUIRE(b.RunUntil([&] { return b.Count<consensus::Prepare>() == 1; }));

  // Two PREPAREs make the slot prepared: its certificate is saved, and the COMMIT waits for the
  // sync, while the io thread goes on.
  b.Receive(2, b.PrepareFrom(2, pp.proposal.digest));
  b.Receive(3, b.PrepareFrom(3, pp.proposal.digest));
  REQUIRE(b.log.WaitSyncsStarted(2));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  b.io.restart();
  b.io.poll();
  CHECK(b.Count<consensus::Commit>() == 0);

  SECTION("it leaves once the sync returns") {
    b.log.Release();
    REQUIRE(b.RunUntil([&] { return b.Count<consensus::Commit>() == 1; }));
    CHECK_FALSE(b.fatal.has_value());
  }
  SECTION("a failed sync stops the node and the vote never leaves") {
    b.log.Release(/*fail=*/true);
    REQUIRE(b.RunUntil([&] { return b.fatal.has_value(); }));
    CHECK(b.fatal->code() == StatusCode::kIoError);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    b.io.restart();
    b.io.poll();
    CHECK(b.Count<consensus::Commit>() == 0);
  }
}

}  // namespace
}  // namespace ertr::node
