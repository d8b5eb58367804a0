// The libcrypto-backed ChaCha20-Poly1305 constructions must produce exactly what libsodium's own
// functions produce (ADR 0028): the formats on the wire and on disk are libsodium's.

#include "crypto/chacha_poly.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <cstring>
#include <random>

#include "crypto/init.h"
#include "crypto/secure_buffer.h"
#include "crypto/session.h"

namespace ertr::crypto {
namespace {

using State = crypto_secretstream_xchacha20poly1305_state;

constexpr unsigned char kTags[] = {
    crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
    crypto_secretstream_xchacha20poly1305_TAG_PUSH,
    crypto_secretstream_xchacha20poly1305_TAG_REKEY,
    crypto_secretstream_xchacha20poly1305_TAG_FINAL,
};

// Sizes around the ChaCha20 block, the Poly1305 block and the 16 KiB slice boundaries.
const std::vector<std::size_t> kSizes = {0,     1,     15,    16,    17,    63,    64,
                                         65,    127,   128,   1000,  1024,  16383, 16384,
                                         16385, 32769, 65536, 65537, 70001, 200000};

Bytes RandomBytesOf(std::size_t n) {
  Bytes b(n);
  RandomBytes(b);
  return b;
}

// What a refused message leaves in the output: what was there, or zeros; never plaintext.
bool NoPlaintext(const Bytes& out, std::uint8_t before) {
  return out == Bytes(out.size(), before) || out == Bytes(out.size(), 0);
}

bool SameState(const State& a, const State& b) {
  return std::memcmp(a.k, b.k, sizeof(a.k)) == 0 &&
         std::memcmp(a.nonce, b.nonce, sizeof(a.nonce)) == 0;
}

State FreshState() {
  State st;
  unsigned char header[crypto_secretstream_xchacha20poly1305_HEADERBYTES];
  Bytes key = RandomBytesOf(crypto_secretstream_xchacha20poly1305_KEYBYTES);
  crypto_secretstream_xchacha20poly1305_init_push(&st, header, key.data());
  return st;
}

// Every test runs on both paths: libcrypto at every size (0), and the node's split, where short
// messages go to libsodium's own functions.
const std::vector<std::size_t> kLibcryptoFrom = {0, internal::kLibcryptoFrom};

Bytes SodiumPush(State& st, ByteSpan plain, ByteSpan ad, unsigned char tag) {
  Bytes out(plain.size() + crypto_secretstream_xchacha20poly1305_ABYTES);
  crypto_secretstream_xchacha20poly1305_push(&st, out.data(), nullptr, plain.data(), plain.size(),
                                             ad.data(), ad.size(), tag);
  return out;
}

// Pushes one chunk with libsodium (`theirs`) and with the engine (`ours`): the same bytes, and
// the same state after (the nonce, the counter and any rekeying follow libsodium).
void CheckPush(internal::ChaChaPoly& engine, State& ours, State& theirs, ByteSpan plain,
               ByteSpan ad, unsigned char tag) {
  Bytes expected = SodiumPush(theirs, plain, ad, tag);
  Bytes got(expected.size());
  engine.SecretstreamPush(ours, plain, ad, tag, got.data());
  INFO("size " << plain.size() << " tag " << int{tag} << " ad " << ad.size());
  REQUIRE(got == expected);
  REQUIRE(SameState(ours, theirs));
}

TEST_CASE("secretstream chunks are libsodium's byte for byte", "[unit][crypto]") {
  const std::size_t from = GENERATE(from_range(kLibcryptoFrom));
  internal::ChaChaPoly engine(from);
  INFO("libcrypto from " << from << " bytes");
  State ours = FreshState();
  State theirs = ours;
  std::mt19937 rng(7);
  for (std::size_t size : kSizes) {
    for (unsigned char tag : kTags) {
      CheckPush(engine, ours, theirs, RandomBytesOf(size), RandomBytesOf(rng() % 40), tag);
    }
  }
}

TEST_CASE("secretstream rekeys like libsodium when its chunk counter wraps", "[unit][crypto]") {
  internal::ChaChaPoly engine(0);
  State ours = FreshState();
  std::memset(ours.nonce, 0xff, 4);  // the u32le counter one chunk before it wraps
  State theirs = ours;
  for (int i = 0; i < 3; ++i) CheckPush(engine, ours, theirs, RandomBytesOf(100), {}, kTags[0]);
}

TEST_CASE("secretstream pull opens libsodium's chunks and refuses any flipped bit",
          "[unit][crypto]") {
  const std::size_t from = GENERATE(from_range(kLibcryptoFrom));
  internal::ChaChaPoly engine(from);
  INFO("libcrypto from " << from << " bytes");
  State writer = FreshState();
  State reader = writer;
  for (std::size_t size : kSizes) {
    Bytes plain = RandomBytesOf(size);
    Bytes ad = RandomBytesOf(12);
    unsigned char tag_in = kTags[size % 4];
    Bytes sealed = SodiumPush(writer, plain, ad, tag_in);
    // A flipped bit in the tag byte, the ciphertext, the MAC or the associated data is refused,
    // and the refused chunk leaves the reader as it was and no plaintext behind.
    std::vector<std::size_t> flips = {0, sealed.size() - 1, sealed.size() / 2};
    for (std::size_t at : flips) {
      Bytes bad = sealed;
      bad[at] ^= 0x20;
      State before = reader;
      Bytes out(size, 0xaa);
      std::uint8_t tag = 0;
      CHECK_FALSE(engine.SecretstreamPull(reader, bad, ad, tag, out.data()));
      CHECK(SameState(reader, before));
      CHECK(NoPlaintext(out, 0xaa));
    }
    Bytes bad_ad = ad;
    bad_ad[3] ^= 1;
    std::uint8_t tag = 0;
    Bytes out(size);
    CHECK_FALSE(engine.SecretstreamPull(reader, sealed, bad_ad, tag, out.data()));
    REQUIRE(engine.SecretstreamPull(reader, sealed, ad, tag, out.data()));
    CHECK(out == plain);
    CHECK(tag == tag_in);
    CHECK(SameState(reader, writer));
  }
}

TEST_CASE("RFC 8439 AEAD matches libsodium's and checks its tag before decrypting",
          "[unit][crypto]") {
  const std::size_t from = GENERATE(from_range(kLibcryptoFrom));
  internal::ChaChaPoly engine(from);
  INFO("libcrypto from " << from << " bytes");
  for (std::size_t size : kSizes) {
    Bytes key = RandomBytesOf(32);
    Bytes nonce = RandomBytesOf(12);
    Bytes ad = RandomBytesOf(size % 37);
    Bytes plain = RandomBytesOf(size);
    Bytes expected(size + 16);
    crypto_aead_chacha20poly1305_ietf_encrypt(expected.data(), nullptr, plain.data(), size,
                                              ad.data(), ad.size(), nullptr, nonce.data(),
                                              key.data());
    Bytes got(size + 16);
    engine.AeadSeal(key.data(), nonce.data(), ad, plain, got.data());
    INFO("size " << size);
    REQUIRE(got == expected);
    Bytes out(size, 0xaa);
    REQUIRE(engine.AeadOpen(key.data(), nonce.data(), ad, got, out.data()));
    CHECK(out == plain);
    Bytes bad = got;
    bad[size / 2] ^= 1;
    Bytes untouched(size, 0xaa);
    CHECK_FALSE(engine.AeadOpen(key.data(), nonce.data(), ad, bad, untouched.data()));
    CHECK(NoPlaintext(untouched, 0xaa));
  }
}

TEST_CASE("the ChaCha20 keystream is libsodium's", "[unit][crypto]") {
  internal::ChaChaPoly engine(0);
  for (std::size_t size : kSizes) {
    Bytes key = RandomBytesOf(32);
    Bytes nonce = RandomBytesOf(12);
    Bytes expected(size);
    if (size > 0) crypto_stream_chacha20_ietf(expected.data(), size, nonce.data(), key.data());
    Bytes got(size, 0xaa);
    engine.Keystream(key.data(), nonce.data(), got.data(), size);
    INFO("size " << size);
    REQUIRE(got == expected);
  }
}

// Run twice by ctest: as it is, where this machine's libcrypto offers ChaCha20 and Poly1305, and
// under tests/crypto/openssl-without-chacha.cnf with ERTR_TEST_NO_LIBCRYPTO_CHACHA set, where it
// offers neither and the engine must fall back to libsodium at every size.
TEST_CASE("without libcrypto's ChaCha20 every message goes to libsodium with the same bytes",
          "[unit][crypto]") {
  const bool expect_missing = std::getenv("ERTR_TEST_NO_LIBCRYPTO_CHACHA") != nullptr;
  REQUIRE(BulkCiphersOnLibcrypto() == !expect_missing);
  internal::ChaChaPoly engine(0);  // libcrypto at every size where it can
  Bytes key = RandomBytesOf(32);
  Bytes nonce = RandomBytesOf(12);
  Bytes plain = RandomBytesOf(70001);
  Bytes expected(plain.size() + 16);
  crypto_aead_chacha20poly1305_ietf_encrypt(expected.data(), nullptr, plain.data(), plain.size(),
                                            nullptr, 0, nullptr, nonce.data(), key.data());
  Bytes got(expected.size());
  engine.AeadSeal(key.data(), nonce.data(), {}, plain, got.data());
  CHECK(got == expected);
  Bytes stream(2048);
  crypto_stream_chacha20_ietf(expected.data(), stream.size(), nonce.data(), key.data());
  engine.Keystream(key.data(), nonce.data(), stream.data(), stream.size());
  CHECK(stream == Bytes(expected.begin(), expected.begin() + 2048));
  State ours = FreshState();
  State theirs = ours;
  CheckPush(engine, ours, theirs, plain, {}, kTags[0]);
}

TEST_CASE("link frames are libsodium's XChaCha20-Poly1305-IETF under counter nonces",
          "[unit][crypto]") {
  auto key = SecretKey<32>::Random();
  SecretKey<32> copy;
  std::memcpy(copy.MutableBytes().data(), key.UnsafeBytes().data(), 32);
  FrameSealer sealer(std::move(copy));
  const std::string_view ad = "ertr/frame/v1";  // docs/spec/wire.md section 3
  for (std::uint64_t counter = 0; counter < 40; ++counter) {
    Bytes plain = RandomBytesOf(kSizes[counter % kSizes.size()]);
    unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES] = {};
    for (int i = 0; i < 8; ++i) nonce[i] = static_cast<unsigned char>(counter >> (8 * i));
    Bytes expected(plain.size() + kFrameTagSize);
    crypto_aead_xchacha20poly1305_ietf_encrypt(expected.data(), nullptr, plain.data(), plain.size(),
                                               reinterpret_cast<const unsigned char*>(ad.data()),
                                               ad.size(), nullptr, nonce, key.UnsafeBytes().data());
    auto got = sealer.Seal(plain, 3);
    REQUIRE(got.has_value());
    REQUIRE(Bytes(got->begin() + 3, got->end()) == expected);
  }
}

}  // namespace
}  // namespace ertr::crypto
