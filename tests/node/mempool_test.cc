#include <catch2/catch.hpp>

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

  Bytes Tx(const crypto::Signer& s, std::string chain = "ertr-test", std::size_t pad = 8) {
    ledger::TransactionHeader h;
    h.chain_id = std::move(chain);
    h.nonce = ++nonce;
    auto tx =
        proto::MakeTransaction(h, ledger::DeactivateUser{s.public_key(), std::string(pad, 'x')}, s);
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

TEST_CASE("mempool bounds bytes overall and transactions per signer", "[unit][node]") {
  Fixture f;
  Mempool pool("ertr-test", *f.verifier, MempoolLimits{4096, 3, 2048});
  for (int i = 0; i < 3; ++i) REQUIRE(pool.Add(f.Tx(*f.alice)).has_value());
  auto fourth = pool.Add(f.Tx(*f.alice));
  CHECK(fourth.error().code() == StatusCode::kResourceExhausted);
  // Another signer is not crowded out by alice's limit...
  REQUIRE(pool.Add(f.Tx(*f.bob, "ertr-test", 1000)).has_value());
  // ...but the total bound holds for everyone.
  REQUIRE(pool.Add(f.Tx(*f.bob, "ertr-test", 1500)).has_value());
  CHECK(pool.Add(f.Tx(*f.bob, "ertr-test", 1500)).error().code() == StatusCode::kResourceExhausted);
  CHECK(pool.Add(f.Tx(*f.bob, "ertr-test", 3000)).error().code() == StatusCode::kInvalidArgument);
  CHECK(pool.bytes() <= 4096);
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
