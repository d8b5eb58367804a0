// Integration tests with real ertrd processes on 127.0.0.1 (issue 5 acceptance). Each test builds
// its own testnet in a temporary directory and talks to the nodes only through public interfaces.

#include <catch2/catch.hpp>

#include <regex>

#include "crypto/box_key.h"
#include "crypto/envelope.h"
#include "crypto/payload_cipher.h"
#include "crypto/secure_buffer.h"
#include "net/asio.h"
#include "net/frame.h"
#include "net/handshake.h"
#include "tests/node/cluster.h"

namespace ertr::testing {
namespace {

std::string TxId(const HttpResult& r) {
  std::smatch m;
  std::regex_search(r.body, m, std::regex("\"tx_id\":\"([0-9a-f]{64})\""));
  return m.size() > 1 ? std::string(m[1]) : std::string();
}

// Submits `count` RegisterUser transactions round-robin over the running nodes in `via`; returns
// their ids.
std::vector<std::string> SubmitUsers(Cluster& c, int count, const std::vector<int>& via) {
  std::vector<std::string> ids;
  for (int k = 0; k < count; ++k) {
    const int inst = k % c.size();
    const int node = via[static_cast<std::size_t>(k) % via.size()];
    auto r = c.Submit(node, inst, c.NewPhysician(inst));
    REQUIRE(r.has_value());
    INFO(r->body);
    REQUIRE(r->status == 202);
    ids.push_back(TxId(*r));
  }
  return ids;
}

bool AllCommitted(const Cluster& c, int node, const std::vector<std::string>& ids) {
  for (const auto& id : ids) {
    if (c.Outcome(node, id) != "accepted") return false;
  }
  return true;
}

std::uint64_t Height(const Cluster& c, int i) {
  auto s = c.Status(i);
  return s ? s->height : 0;
}

void StartAll(Cluster& c) {
  for (int i = 0; i < c.size(); ++i) c.Start(i);
  const bool up = Cluster::WaitFor([&] {
    for (int i = 0; i < c.size(); ++i) {
      auto s = c.Status(i);
      if (!s || s->peers + 1 < static_cast<std::uint64_t>(c.size())) return false;
    }
    return true;
  });
  if (!up) {
    std::string logs;
    for (int i = 0; i < c.size(); ++i) logs += "node " + std::to_string(i) + ":\n" + c.Log(i);
    FAIL("the network did not connect:\n" << logs);
  }
}

TEST_CASE("four validators commit, one stops and three go on, it restarts and catches up",
          "[integration][slow]") {
  Cluster c(4);
  StartAll(c);
  auto first = SubmitUsers(c, 12, {0, 1, 2, 3});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 0, first); }));
  const auto h1 = Height(c, 0);
  REQUIRE(Cluster::WaitFor([&] { return c.Converged(h1); }));

  c.Kill(3);
  auto second = SubmitUsers(c, 12, {0, 1, 2});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 1, second); }));
  const auto h2 = Height(c, 1);
  CHECK(h2 > h1);

  c.Start(3);
  INFO(c.Log(3));
  REQUIRE(Cluster::WaitFor([&] { return c.Converged(h2); }));
  CHECK(AllCommitted(c, 3, second));
  // It takes part again: new work commits everywhere.
  auto third = SubmitUsers(c, 4, {3});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 2, third); }));
  c.Terminate(0);  // SIGTERM drains cleanly with exit code 0
}

TEST_CASE("killing the primary mid-load causes a view change and commits continue",
          "[integration][slow]") {
  Cluster c(4);
  StartAll(c);
  auto warm = SubmitUsers(c, 4, {1});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 1, warm); }));
  REQUIRE(c.Status(1)->view == 0);  // node 0 is the primary of view 0
  auto load = SubmitUsers(c, 6, {1, 2, 3});
  c.Kill(0);
  auto after = SubmitUsers(c, 6, {1, 2, 3});
  INFO(c.Log(1));
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 2, load) && AllCommitted(c, 2, after); }));
  CHECK(c.Status(1)->view >= 1);
  REQUIRE(Cluster::WaitFor([&] { return c.Converged(Height(c, 1)); }));
}

TEST_CASE("kill -9 under load, again and again: no decided block is lost, states agree",
          "[integration][slow]") {
  Cluster c(4);
  StartAll(c);
  std::vector<std::string> all;
  for (int round = 0; round < 4; ++round) {
    const int victim = (round * 3 + 1) % 4;
    std::vector<int> others;
    for (int i = 0; i < 4; ++i) {
      if (i != victim) others.push_back(i);
    }
    auto before = SubmitUsers(c, 6, others);
    c.Kill(victim);  // mid-load: some of these are in flight
    auto during = SubmitUsers(c, 6, others);
    c.Start(victim);
    all.insert(all.end(), before.begin(), before.end());
    all.insert(all.end(), during.begin(), during.end());
    INFO("round " << round << " victim " << victim << "\n" << c.Log(victim));
    REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, victim, all); }));
  }
  REQUIRE(Cluster::WaitFor([&] { return c.Converged(Height(c, 0)); }));
  for (int i = 0; i < 4; ++i) {
    CHECK(c.Log(i).find("event=fatal") == std::string::npos);
    // No replica saw another sign two digests for one (view, height), restarted ones included.
    auto metrics = HttpCall(c.http_port(i), "GET", "/metrics");
    REQUIRE(metrics.has_value());
    CHECK(metrics->body.find("ertr_equivocations_seen_total 0\n") != std::string::npos);
  }
}

TEST_CASE("a record's blob stays fetchable when its uploader goes offline, and erasure deletes it",
          "[integration][slow]") {
  Cluster c(4);
  StartAll(c);
  auto physician = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  auto reg = c.Submit(
      0, 0,
      ledger::RegisterUser{"hosp-a", physician->public_key(), ledger::Role::kPhysician, "md-blob"});
  REQUIRE(reg.has_value());
  std::array<std::uint8_t, 16> p{};
  crypto::RandomBytes(p);
  auto pat = c.Submit(0, 0, ledger::RegisterPatient{ledger::Pseudonym(p), "hosp-a", {}});
  REQUIRE(pat.has_value());
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 0, {TxId(*reg), TxId(*pat)}); }));

  // The uploader encrypts (3 MiB: several chunks), stores the ciphertext at its node, and
  // submits the record with the data key sealed to its institution.
  Bytes plain(3 * 1024 * 1024 + 123);
  crypto::RandomBytes(plain);
  auto key = crypto::DataKey::Random();
  Bytes ciphertext = crypto::EncryptPayload(key, plain);
  auto up = HttpCall(c.http_port(0), "POST", "/v1/blobs", std::string(AsStringView(ciphertext)));
  REQUIRE(up.has_value());
  INFO(up->body);
  REQUIRE(up->status == 201);
  const crypto::Digest digest = crypto::Hash(ciphertext);
  CHECK(up->body.find(digest.ToHex()) != std::string::npos);
  std::array<std::uint8_t, 16> r{};
  crypto::RandomBytes(r);
  Bytes sealed = crypto::SealDataKey(key, c.institution_key(0));
  ledger::SubmitRecord submit{ledger::RecordId(r),
                              ledger::Pseudonym(p),
                              ledger::RecordKind::kRtBeamsTreatmentRecord,
                              digest,
                              ciphertext.size(),
                              {digest, {"hosp-a"}},
                              "hosp-a",
                              {{"hosp-a", *ledger::SealedKey::FromSpan(sealed, "sealed")}}};
  auto rec = c.SubmitAs(0, *physician, submit);
  REQUIRE(rec.has_value());
  REQUIRE(rec->status == 202);
  // A record whose blob nobody holds is never ordered: it waits for f+1 holders.
  auto orphan = submit;
  crypto::RandomBytes(r);
  orphan.record_id = ledger::RecordId(r);
  orphan.ciphertext_digest = crypto::Hash(AsBytes("no such blob"));
  orphan.locator.content_digest = orphan.ciphertext_digest;
  auto orphan_tx = c.SubmitAs(0, *physician, orphan);
  REQUIRE(orphan_tx.has_value());
  REQUIRE(orphan_tx->status == 202);
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 0, {TxId(*rec)}); }));
  auto later = SubmitUsers(c, 2, {0});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 0, later); }));
  CHECK(c.Outcome(0, TxId(*orphan_tx)) == "pending");
  auto metrics = HttpCall(c.http_port(0), "GET", "/metrics");
  REQUIRE(metrics.has_value());
  CHECK(metrics->body.find("ertr_records_waiting_for_blob 1\n") != std::string::npos);
  c.Kill(0);  // the uploader goes offline right after the commit

  for (int i = 1; i < 4; ++i) {
    std::optional<HttpResult> got;
    REQUIRE(Cluster::WaitFor([&] {
      got = HttpCall(c.http_port(i), "GET", "/v1/blobs/" + digest.ToHex());
      return got && got->status == 200;
    }));
    CHECK(crypto::Hash(AsBytes(got->body)) == digest);
    auto opened = crypto::DecryptPayload(key, AsBytes(got->body));
    REQUIRE(opened.has_value());
    CHECK(*opened == plain);
  }

  // The home institution's admin erases the record: every running node deletes the blob.
  auto erase = c.Submit(1, 0, ledger::EraseRecord{submit.record_id, "patient-request"});
  REQUIRE(erase.has_value());
  INFO(erase->body);
  REQUIRE(erase->status == 202);
  const bool erased = Cluster::WaitFor([&] { return AllCommitted(c, 1, {TxId(*erase)}); });
  if (!erased) {
    auto s1 = HttpCall(c.http_port(1), "GET", "/v1/status");
    FAIL("erase not committed: " << c.Outcome(1, TxId(*erase)) << "; node 1 status: "
                                 << (s1 ? s1->body : "unreachable") << "\nnode 1:\n"
                                 << c.Log(1));
  }
  for (int i = 1; i < 4; ++i) {
    REQUIRE(Cluster::WaitFor([&] {
      auto got = HttpCall(c.http_port(i), "GET", "/v1/blobs/" + digest.ToHex());
      return got && got->status == 410;
    }));
    const auto file = std::filesystem::path(c.home(i)) / "data" / "blobs" / "objects" /
                      digest.ToHex().substr(0, 2) / digest.ToHex();
    CHECK_FALSE(std::filesystem::exists(file));
  }
}

TEST_CASE("a node with a wiped data directory re-syncs from its peers", "[integration][slow]") {
  Cluster c(4);
  StartAll(c);
  auto ids = SubmitUsers(c, 16, {0, 1});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 0, ids); }));
  c.Kill(2);
  c.WipeData(2);
  c.Start(2);
  const auto h = Height(c, 0);
  INFO(c.Log(2));
  REQUIRE(Cluster::WaitFor([&] { return c.Converged(h); }));
  CHECK(AllCommitted(c, 2, ids));
}

TEST_CASE("non-members and tampered handshakes are refused and logged", "[integration][slow]") {
  Cluster c(4);
  StartAll(c);
  boost::asio::io_context io;
  auto connect = [&] {
    boost::asio::ip::tcp::socket s(io);
    s.connect({boost::asio::ip::make_address("127.0.0.1"), c.p2p_port(3)});
    return s;
  };
  auto write_frame = [](boost::asio::ip::tcp::socket& s, const Bytes& payload) {
    auto f = net::EncodeFrame(payload);
    boost::asio::write(s, boost::asio::buffer(f));
  };
  auto read_frame = [](boost::asio::ip::tcp::socket& s) -> std::optional<Bytes> {
    net::FrameReader reader;
    std::array<std::uint8_t, 4096> buf{};
    while (true) {
      auto f = reader.Next();
      if (!f) return std::nullopt;
      if (*f) return **f;
      boost::system::error_code ec;
      const auto n = s.read_some(boost::asio::buffer(buf), ec);
      if (ec) return std::nullopt;
      reader.Feed(ByteSpan(buf.data(), n));
    }
  };
  // 1. An outsider with a key that is not in the validator set completes its half correctly.
  auto outsider = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  {
    auto s = connect();
    net::HandshakeInitiator init(c.chain_id(), *outsider, c.validator_key(3));
    write_frame(s, init.Hello());
    auto reply = read_frame(s);
    REQUIRE(reply.has_value());
    auto confirm = init.OnReply(*reply);
    REQUIRE(confirm.has_value());  // node 3 proved its identity
    write_frame(s, *confirm);
    CHECK_FALSE(read_frame(s).has_value());  // and closed on us
  }
  // 2. A validator's identity claimed without its key: the signature in the confirmation fails.
  {
    auto s = connect();
    net::HandshakeInitiator init(c.chain_id(), *outsider, c.validator_key(3));
    write_frame(s, init.Hello());
    auto reply = read_frame(s);
    REQUIRE(reply.has_value());
    auto confirm = *init.OnReply(*reply);
    std::copy(c.validator_key(1).span().begin(), c.validator_key(1).span().end(), confirm.begin());
    write_frame(s, confirm);
    CHECK_FALSE(read_frame(s).has_value());
  }
  // 3. Garbage instead of a hello.
  {
    auto s = connect();
    write_frame(s, ToBytes("GET / HTTP/1.1"));
    CHECK_FALSE(read_frame(s).has_value());
  }
  REQUIRE(Cluster::WaitFor(
      [&] {
        const auto log = c.Log(3);
        return log.find("not a validator of this chain") != std::string::npos &&
               log.find("failed to prove its identity") != std::string::npos &&
               log.find("bad magic") != std::string::npos;
      },
      10));
  // The network is unharmed.
  auto ids = SubmitUsers(c, 3, {3});
  REQUIRE(Cluster::WaitFor([&] { return AllCommitted(c, 0, ids); }));
}

}  // namespace
}  // namespace ertr::testing
