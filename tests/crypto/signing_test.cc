#include <catch2/catch.hpp>

#include <algorithm>
#include <future>
#include <set>
#include <thread>
#include <type_traits>

#include "crypto/box_key.h"
#include "crypto/signing.h"

namespace ertr::crypto {
namespace {

Bytes Hex(std::string_view h) { return *FromHex(h); }

struct Ed25519Vector {
  const char* seed;
  const char* public_key;
  const char* message;
  const char* signature;
};

// RFC 8032 section 7.1, TEST 1-3 (cross-checked against OpenSSL when written).
constexpr Ed25519Vector kRfc8032[] = {
    {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
     "b46bd25bf5f0595bbe24655141438e7a100b"},
    {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
     "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
    {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
     "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
     "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
     "c6594a7c15e9716ed28dc027beceea1ec40a"},
};

TEST_CASE("Ed25519 matches the RFC 8032 known-answer vectors", "[unit]") {
  for (const auto& v : kRfc8032) {
    auto key = SigningKey::FromSeed(Hex(v.seed));
    REQUIRE(key.has_value());
    CHECK(key->public_key().ToHex() == v.public_key);
    Bytes msg = Hex(v.message);
    Signature sig = key->SignRaw(msg);
    CHECK(sig.ToHex() == v.signature);
    CHECK(VerifyRaw(key->public_key(), msg, sig));
  }
}

TEST_CASE("Flipping any bit of message or signature makes verification fail", "[unit]") {
  auto key = SigningKey::Generate();
  Bytes payload = ToBytes("commit view=3 height=9");
  auto sig = key.Sign(SigningDomain::kCommit, "chain-a", payload);
  REQUIRE(sig.has_value());
  REQUIRE(Verify(key.public_key(), SigningDomain::kCommit, "chain-a", payload, *sig));
  for (std::size_t i = 0; i < payload.size(); ++i) {
    Bytes bad = payload;
    bad[i] ^= 0x01;
    CHECK_FALSE(Verify(key.public_key(), SigningDomain::kCommit, "chain-a", bad, *sig));
  }
  for (std::size_t i = 0; i < Signature::kSize; ++i) {
    auto arr = sig->array();
    arr[i] ^= 0x80;
    CHECK_FALSE(
        Verify(key.public_key(), SigningDomain::kCommit, "chain-a", payload, Signature(arr)));
  }
}

TEST_CASE("Signatures are bound to their domain and chain id", "[unit]") {
  auto key = SigningKey::Generate();
  Bytes payload = ToBytes("same payload");
  auto sig = key.Sign(SigningDomain::kPrepare, "chain-a", payload);
  REQUIRE(sig.has_value());
  CHECK(Verify(key.public_key(), SigningDomain::kPrepare, "chain-a", payload, *sig));
  CHECK_FALSE(Verify(key.public_key(), SigningDomain::kCommit, "chain-a", payload, *sig));
  CHECK_FALSE(Verify(key.public_key(), SigningDomain::kPrepare, "chain-b", payload, *sig));
  auto other = SigningKey::Generate();
  CHECK_FALSE(Verify(other.public_key(), SigningDomain::kPrepare, "chain-a", payload, *sig));
}

TEST_CASE("The signed message layout is tag, NUL, chain id length, chain id, payload", "[unit]") {
  auto msg = SignedMessage(SigningDomain::kTransaction, "c1", ToBytes("xy"));
  REQUIRE(msg.has_value());
  CHECK(ToHex(*msg) ==
        ToHex(ToBytes("ertr/tx/v1")) + "00" + "02" + ToHex(ToBytes("c1")) + ToHex(ToBytes("xy")));
  CHECK_FALSE(SignedMessage(SigningDomain::kTransaction, "", {}).has_value());
  CHECK_FALSE(SignedMessage(SigningDomain::kTransaction, std::string(65, 'c'), {}).has_value());
}

TEST_CASE("Every signing domain has a distinct tag", "[unit]") {
  std::set<std::string_view> tags;
  for (int d = 1; d <= 10; ++d) tags.insert(SigningDomainTag(static_cast<SigningDomain>(d)));
  CHECK(tags.size() == 10);
}

TEST_CASE("A libsodium secret key with a mismatched public half is refused", "[unit]") {
  auto key = SigningKey::Generate();
  Bytes secret(key.secret().UnsafeBytes().begin(), key.secret().UnsafeBytes().end());
  REQUIRE(SigningKey::FromSecretBytes(secret).has_value());
  secret[40] ^= 1;
  auto bad = SigningKey::FromSecretBytes(secret);
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().code() == StatusCode::kDataLoss);
}

TEST_CASE("Signer and Verifier interfaces wrap Ed25519", "[unit]") {
  auto key = SigningKey::Generate();
  PublicKey pub = key.public_key();
  auto signer = MakeEd25519Signer(std::move(key));
  auto verifier = MakeEd25519Verifier();
  CHECK(signer->public_key() == pub);
  auto sig = signer->Sign(SigningDomain::kCheckpoint, "c", ToBytes("root"));
  REQUIRE(sig.has_value());
  CHECK(verifier->Verify(pub, SigningDomain::kCheckpoint, "c", ToBytes("root"), *sig));
  CHECK_FALSE(verifier->Verify(pub, SigningDomain::kCheckpoint, "c", ToBytes("rooT"), *sig));
}

TEST_CASE("X25519 matches RFC 7748 section 6.1", "[unit]") {
  auto alice = BoxKeyPair::FromSecretBytes(
      Hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
  auto bob = BoxKeyPair::FromSecretBytes(
      Hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
  REQUIRE(alice.has_value());
  REQUIRE(bob.has_value());
  CHECK(alice->public_key().ToHex() ==
        "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
  CHECK(bob->public_key().ToHex() ==
        "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
  auto k1 = X25519(alice->secret(), bob->public_key());
  auto k2 = X25519(bob->secret(), alice->public_key());
  REQUIRE(k1.has_value());
  REQUIRE(k2.has_value());
  CHECK(ToHex(k1->UnsafeBytes()) ==
        "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
  CHECK(k1->Equals(*k2));
  // A low-order point gives the all-zero shared secret and is refused.
  CHECK_FALSE(X25519(alice->secret(), BoxPublicKey()).has_value());
}

TEST_CASE("Secret keys are zeroed and released when moved from", "[unit]") {
  auto a = SecretKey<32>::Random();
  std::array<std::uint8_t, 32> copy{};
  std::copy(a.UnsafeBytes().begin(), a.UnsafeBytes().end(), copy.begin());
  SecretKey<32> b = std::move(a);
  CHECK(std::equal(copy.begin(), copy.end(), b.UnsafeBytes().begin()));
  static_assert(!std::is_copy_constructible_v<SecretKey<32>>);
  static_assert(!std::is_copy_constructible_v<SigningKey>);
  static_assert(!std::is_copy_constructible_v<BoxKeyPair>);
  SecureBuffer buf(16);
  buf.data()[3] = 9;
  buf.Wipe();
  CHECK(std::all_of(buf.data(), buf.data() + 16, [](std::uint8_t v) { return v == 0; }));
}

TEST_CASE("A reused guarded block starts zeroed and keeps its size's guard page", "[unit]") {
  const std::uint8_t* first = nullptr;
  {
    SecureBuffer secret(32);
    std::fill(secret.data(), secret.data() + 32, std::uint8_t{0xAA});
    first = secret.data();
  }
  SecureBuffer again(32);  // the pooled block of that size
  CHECK(again.data() == first);
  CHECK(std::all_of(again.data(), again.data() + 32, [](std::uint8_t v) { return v == 0; }));
  SecureBuffer other(31);  // another size never gets a 32-byte block
  CHECK(other.data() != first);
  CHECK(std::all_of(other.data(), other.data() + 31, [](std::uint8_t v) { return v == 0; }));
  const std::uint8_t* chunk = nullptr;
  {
    SecureBuffer plaintext(64 * 1024);  // a payload stream's chunk buffer
    std::fill(plaintext.data(), plaintext.data() + plaintext.size(), std::uint8_t{0x5C});
    chunk = plaintext.data();
  }
  SecureBuffer next(64 * 1024);
  CHECK(next.data() == chunk);
  CHECK(std::all_of(next.data(), next.data() + next.size(), [](std::uint8_t v) { return v == 0; }));
}

TEST_CASE("A guarded block freed on another thread is reused by the next allocation", "[unit]") {
  // An upload's buffers are made on one gRPC thread and freed on another: one pool for all.
  // The freeing thread stays alive until the next allocation is made (a thread's exit could
  // unmap the block and let the next mapping land at the same address by chance).
  SecureBuffer chunk(48 * 1024);
  std::fill(chunk.data(), chunk.data() + chunk.size(), std::uint8_t{0x3C});
  const std::uint8_t* made = chunk.data();
  std::promise<void> freed, allocated;
  std::thread other([&, b = std::move(chunk)]() mutable {
    b = SecureBuffer();
    freed.set_value();
    allocated.get_future().wait();
  });
  freed.get_future().wait();
  SecureBuffer next(48 * 1024);
  allocated.set_value();
  other.join();
  CHECK(next.data() == made);
  CHECK(std::all_of(next.data(), next.data() + next.size(), [](std::uint8_t v) { return v == 0; }));
}

}  // namespace
class CountingVerifier final : public Verifier {
 public:
  explicit CountingVerifier(int& calls) : calls_(calls) {}
  bool Verify(const PublicKey& key, SigningDomain domain, std::string_view chain_id,
              ByteSpan payload, const Signature& signature) const override {
    ++calls_;
    return inner_->Verify(key, domain, chain_id, payload, signature);
  }

 private:
  int& calls_;
  std::unique_ptr<Verifier> inner_ = MakeEd25519Verifier();
};

TEST_CASE("The caching verifier answers a repeated success without verifying again", "[unit]") {
  int calls = 0;
  auto cached = MakeCachingVerifier(std::make_unique<CountingVerifier>(calls), 2);
  auto key = SigningKey::Generate();
  const Bytes payload = {1, 2, 3};
  auto sig = key.Sign(SigningDomain::kTransaction, "c", payload);
  REQUIRE(sig.has_value());
  CHECK(cached->Verify(key.public_key(), SigningDomain::kTransaction, "c", payload, *sig));
  CHECK(cached->Verify(key.public_key(), SigningDomain::kTransaction, "c", payload, *sig));
  CHECK(calls == 1);
  // Anything that differs is verified afresh, and failures are never remembered.
  const Bytes other = {1, 2, 4};
  CHECK_FALSE(cached->Verify(key.public_key(), SigningDomain::kTransaction, "c", other, *sig));
  CHECK_FALSE(cached->Verify(key.public_key(), SigningDomain::kTransaction, "c", other, *sig));
  CHECK_FALSE(cached->Verify(key.public_key(), SigningDomain::kPrepare, "c", payload, *sig));
  CHECK_FALSE(cached->Verify(key.public_key(), SigningDomain::kTransaction, "d", payload, *sig));
  auto stranger = SigningKey::Generate();
  CHECK_FALSE(
      cached->Verify(stranger.public_key(), SigningDomain::kTransaction, "c", payload, *sig));
  CHECK(calls == 6);
  // Bounded: after two newer successes the first is verified again.
  for (std::uint8_t b : {7, 8}) {
    const Bytes p = {b};
    auto s = key.Sign(SigningDomain::kTransaction, "c", p);
    CHECK(cached->Verify(key.public_key(), SigningDomain::kTransaction, "c", p, *s));
  }
  CHECK(cached->Verify(key.public_key(), SigningDomain::kTransaction, "c", payload, *sig));
  CHECK(calls == 9);
}

}  // namespace ertr::crypto
