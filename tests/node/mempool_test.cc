#include <catch2/catch.hpp>

#include "ertr/v1/transaction.pb.h"
#include "node/mempool.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"

namespace ertr::node {
namespace {

struct Fixture {
  std::unique_ptr<crypto::Signer> alice = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  std::unique_ptr<crypto::Signer> bob = crypto::MakeEd25519Signer(crypto::SigningKey::Generate());
  std::unique_ptr<crypto::Verifier> verifier = crypto::MakeEd25519Verifier();
  std::uint64_t nonce = 0;

  // A DeactivateUser whose reason code is `pad` characters (a valid code has 1..64).
  Bytes Tx(const crypto::Signer& s, std::string chain = "ertr-test", std::size_t pad = 8,
           char fill = 'x') {
    ledger::TransactionHeader h;
    h.chain_id = std::move(chain);
    h.nonce = ++nonce;
    auto tx = proto::MakeTransaction(
        h, ledger::DeactivateUser{s.public_key(), std::string(pad, fill)}, s);
    REQUIRE(tx.has_value());
    return proto::EncodeSignedTransaction(tx->signed_tx);
  }
};

TEST_CASE("mempool admits valid transactions once and refuses bad ones", "[unit][node]") {
  Fixture f;
  Mempool pool("ertr-test", *f.verifier);
  auto tx = f.Tx(*f.alice);
  auto added = pool.Add(tx);
  REQUIRE(added.has_value());
  CHECK(pool.Contains(added->signed_tx.id));
  CHECK(pool.Add(tx).error().code() == StatusCode::kAlreadyExists);
  CHECK(pool.Add(f.Tx(*f.alice, "other-chain")).error().message().find("other-chain") !=
        std::string::npos);
  auto forged = f.Tx(*f.alice);
  forged[forged.size() - 1] ^= 1;  // the signature's last byte
  CHECK(pool.Add(forged).error().code() == StatusCode::kUnauthenticated);
  CHECK(pool.Add(Bytes{1, 2, 3}).error().code() == StatusCode::kInvalidArgument);
  pool.Remove({added->signed_tx.id});
  CHECK(pool.size() == 0);
  CHECK(pool.bytes() == 0);
}

// A SubmitRecord naming `ciphertext` (ids from `seed`; the shape rules hold).
Bytes RecordTx(Fixture& f, const crypto::Signer& s, std::uint8_t seed, std::uint8_t ciphertext) {
  const auto filled = [](auto id, std::uint8_t b) {
    std::array<std::uint8_t, decltype(id)::kSize> a{};
    a.fill(b);
    return decltype(id)(a);
  };
  ledger::SubmitRecord r;
  r.record_id = filled(ledger::RecordId{}, seed);
  r.patient = filled(ledger::Pseudonym{}, 7);
  r.kind = ledger::RecordKind::kRtPlan;
  r.ciphertext_digest = filled(crypto::Digest{}, ciphertext);
  r.ciphertext_size = 4096;
  r.locator.content_digest = r.ciphertext_digest;
  r.locator.holder_institutions = {"hosp-a"};
  r.uploader_institution_id = "hosp-a";
  r.envelopes.push_back(ledger::KeyEnvelope{"hosp-a", filled(ledger::SealedKey{}, seed)});
  ledger::TransactionHeader h;
  h.chain_id = "ertr-test";
  h.nonce = ++f.nonce;
  auto tx = proto::MakeTransaction(h, r, s);
  REQUIRE(tx.has_value());
  return proto::EncodeSignedTransaction(tx->signed_tx);
}

TEST_CASE("mempool knows which ciphertexts its pooled records name, until they leave",
          "[unit][node]") {
  // The node keeps a blob while a record naming it waits here, however long (no quorum for
  // hours): deleted as an unsubmitted upload, the record would commit later with no copy left.
  Fixture f;
  Mempool pool("ertr-test", *f.verifier);
  const auto digest_of = [](std::uint8_t b) {
    std::array<std::uint8_t, crypto::Digest::kSize> a{};
    a.fill(b);
    return crypto::Digest(a);
  };
  const crypto::Digest blob = digest_of(0x42);
  CHECK_FALSE(pool.NamesBlob(blob));
  auto first = pool.Add(RecordTx(f, *f.alice, 1, 0x42));
  auto second = pool.Add(RecordTx(f, *f.bob, 2, 0x42));  // the same ciphertext, another record
  auto other = pool.Add(RecordTx(f, *f.alice, 3, 0x43));
  auto plain = pool.Add(f.Tx(*f.alice));
  REQUIRE(first.has_value());
  REQUIRE(second.has_value());
  REQUIRE(other.has_value());
  REQUIRE(plain.has_value());
  CHECK(pool.NamesBlob(blob));
  pool.Remove({first->signed_tx.id, plain->signed_tx.id});
  CHECK(pool.NamesBlob(blob));  // the second still names it
  pool.Remove({second->signed_tx.id});
  CHECK_FALSE(pool.NamesBlob(blob));
  pool.Remove({second->signed_tx.id});  // removing twice changes nothing
  CHECK_FALSE(pool.NamesBlob(blob));
  CHECK(pool.size() == 1);
  CHECK(pool.NamesBlob(digest_of(0x43)));
  pool.Remove({other->signed_tx.id});
  CHECK_FALSE(pool.NamesBlob(digest_of(0x43)));
  CHECK(pool.size() == 0);
}

TEST_CASE("a copy in a proposal is orderable only if admission would take it", "[unit][node]") {
  // Consensus messages find each transaction's id by the envelope scan alone, so these are the
  // checks that keep out of a decided block what is not a signed transaction of this chain, or
  // carries bytes the chain code does not read.
  Fixture f;
  const OrderingRules rules{"ertr-test", 1u << 20, false};
  const auto orderable = [&](ByteSpan bytes, const OrderingRules& r) {
    auto id = proto::PeekTransactionId(bytes);
    REQUIRE(id.has_value());
    return DecodeOrderable(bytes, &*id, r, *f.verifier);
  };
  const Bytes wire = f.Tx(*f.alice);
  CHECK(orderable(wire, rules).has_value());
  // The same body (so the same id) with a forged signature.
  Bytes forged = wire;
  forged.back() ^= 1;
  CHECK(*proto::PeekTransactionId(forged) == *proto::PeekTransactionId(wire));
  CHECK(orderable(forged, rules).error().code() == StatusCode::kUnauthenticated);
  // A well-formed envelope whose body is not a transaction body: the scan gives it an id.
  ledger::SignedTransaction not_a_body;
  not_a_body.body = ToBytes("\xff\xff not a transaction body");
  CHECK_FALSE(orderable(proto::EncodeSignedTransaction(not_a_body), rules).has_value());
  // Another chain; a payload that breaks the shape rules (a code of 200 characters); a body over
  // the chain's limit: all signed by their signer.
  CHECK(orderable(f.Tx(*f.alice, "other-chain"), rules).error().message().find("other-chain") !=
        std::string::npos);
  CHECK(orderable(f.Tx(*f.alice, "ertr-test", 200), rules).error().message().find("reason") !=
        std::string::npos);
  const Bytes large = f.Tx(*f.alice, "ertr-test", 64);
  CHECK(orderable(large, OrderingRules{"ertr-test", 64, false}).error().message().find("limit") !=
        std::string::npos);
  // An unknown field appended to the envelope.
  Bytes extended = wire;
  for (std::uint8_t x : {0x1a, 0x01, 0x00}) extended.push_back(x);
  CHECK(orderable(extended, rules).error().message().find("canonical") != std::string::npos);
  // A Genesis: the chain code rejects it in any block, where its names would stay as free text.
  ledger::TransactionHeader gh;
  gh.chain_id = "ertr-test";
  gh.nonce = 6;
  ledger::SignedTransaction genesis;
  genesis.body = proto::EncodeTransactionBody(gh, ledger::Genesis{});
  CHECK(orderable(proto::EncodeSignedTransaction(genesis), rules)
            .error()
            .message()
            .find("Genesis transaction is never ordered") != std::string::npos);
  // Unsigned: a NullOp only on a benchmark chain.
  ledger::TransactionHeader h;
  h.chain_id = "ertr-test";
  h.nonce = 5;
  ledger::SignedTransaction op;
  op.body = proto::EncodeTransactionBody(h, ledger::NullOp{Bytes(8, 1)});
  const Bytes unsigned_op = proto::EncodeSignedTransaction(op);
  CHECK(orderable(unsigned_op, rules).error().code() == StatusCode::kFailedPrecondition);
  CHECK(orderable(unsigned_op, OrderingRules{"ertr-test", 1u << 20, true}).has_value());
}

TEST_CASE("mempool bounds bytes overall and transactions per signer", "[unit][node]") {
  Fixture f;
  const std::size_t one = f.Tx(*f.alice, "ertr-test", 64).size();  // every transaction below
  Mempool pool("ertr-test", *f.verifier, MempoolLimits{5 * one, 3, one});
  std::vector<crypto::Digest> alices;
  for (int i = 0; i < 3; ++i) {
    auto added = pool.Add(f.Tx(*f.alice, "ertr-test", 64));
    REQUIRE(added.has_value());
    alices.push_back(added->signed_tx.id);
  }
  auto fourth = pool.Add(f.Tx(*f.alice, "ertr-test", 64));
  CHECK(fourth.error().code() == StatusCode::kResourceExhausted);
  CHECK(pool.CountFrom(f.alice->public_key()) == 3);
  CHECK(pool.CountFrom(f.bob->public_key()) == 0);
  // Another signer is not crowded out by alice's limit...
  REQUIRE(pool.Add(f.Tx(*f.bob, "ertr-test", 64)).has_value());
  // ...but the total bound holds for everyone.
  REQUIRE(pool.Add(f.Tx(*f.bob, "ertr-test", 64)).has_value());
  CHECK(pool.Add(f.Tx(*f.bob, "ertr-test", 64)).error().code() == StatusCode::kResourceExhausted);
  auto oversized = pool.Add(f.Tx(*f.bob, "ertr-test", 3000));
  CHECK(oversized.error().code() == StatusCode::kInvalidArgument);
  CHECK(oversized.error().message().find("the limit is") != std::string::npos);
  CHECK(pool.bytes() == 5 * one);
  CHECK(pool.CountFrom(f.bob->public_key()) == 2);
  // Committed transactions leave room for their signer again.
  pool.Remove({alices[0], alices[1]});
  CHECK(pool.CountFrom(f.alice->public_key()) == 1);
  REQUIRE(pool.Add(f.Tx(*f.alice, "ertr-test", 64)).has_value());
  CHECK(pool.CountFrom(f.alice->public_key()) == 2);
}

TEST_CASE("mempool refuses a payload that breaks the shape rules: it never reaches a block",
          "[unit][node]") {
  Fixture f;
  Mempool pool("ertr-test", *f.verifier);
  // Free text in a code field (it could carry a name onto the chain), and an over-long code.
  for (const auto& bad : {f.Tx(*f.alice, "ertr-test", 5, ' '), f.Tx(*f.alice, "ertr-test", 65)}) {
    auto refused = pool.Add(bad);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code() == StatusCode::kInvalidArgument);
    CHECK(refused.error().message().find("not admitted: malformed "
                                         "(deactivate_user.reason_code)") == 0);
  }
  CHECK(pool.size() == 0);
  CHECK(pool.bytes() == 0);
  // A signed transaction whose payload does not decode (a 5-byte user key) is refused too.
  v1::TransactionBody body;
  body.set_chain_id("ertr-test");
  body.set_signer(ToString(f.alice->public_key().span()));
  body.set_nonce(++f.nonce);
  body.mutable_deactivate_user()->set_user_key("short");
  body.mutable_deactivate_user()->set_reason_code("left");
  ledger::SignedTransaction st;
  st.body = ToBytes(body.SerializeAsString());
  auto sig = f.alice->Sign(crypto::SigningDomain::kTransaction, "ertr-test", st.body);
  REQUIRE(sig.has_value());
  st.signature = *sig;
  auto garbled = pool.Add(proto::EncodeSignedTransaction(st));
  REQUIRE_FALSE(garbled.has_value());
  CHECK(garbled.error().code() == StatusCode::kInvalidArgument);
  CHECK(garbled.error().message().find("not admitted: its payload does not decode: ") == 0);
  CHECK(garbled.error().message().find("deactivate_user.user_key") != std::string::npos);
  CHECK(pool.size() == 0);
}

TEST_CASE("mempool: NullOps only on a benchmark network, and there unsigned", "[unit][node]") {
  Fixture f;
  auto null_op = [&](bool sign) {
    ledger::TransactionHeader h;
    h.chain_id = "ertr-test";
    h.nonce = ++f.nonce;
    auto tx = proto::MakeTransaction(h, ledger::NullOp{Bytes(8, 7)}, *f.alice);
    REQUIRE(tx.has_value());
    if (!sign) tx->signed_tx.signature = crypto::Signature();
    return proto::EncodeSignedTransaction(tx->signed_tx);
  };
  Mempool production("ertr-test", *f.verifier);
  auto refused = production.Add(null_op(true));
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code() == StatusCode::kFailedPrecondition);
  CHECK(refused.error().message().find("benchmark_mode") != std::string::npos);
  Mempool bench("ertr-test", *f.verifier, MempoolLimits{}, true);
  CHECK(bench.Add(null_op(false)).has_value());
  CHECK(bench.Add(null_op(true)).has_value());
  // Every other transaction is still checked.
  auto forged = f.Tx(*f.alice);
  forged[forged.size() - 1] ^= 1;
  CHECK(bench.Add(forged).error().code() == StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace ertr::node
