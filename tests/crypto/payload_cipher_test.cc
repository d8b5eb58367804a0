#include <catch2/catch.hpp>

#include <sodium.h>

#include <random>

#include "crypto/hash.h"
#include "crypto/payload_cipher.h"

namespace ertr::crypto {
namespace {

Bytes Pattern(std::size_t n, std::uint32_t seed) {
  std::mt19937 rng(seed);
  Bytes b(n);
  for (auto& v : b) v = static_cast<std::uint8_t>(rng());
  return b;
}

TEST_CASE("Payloads round-trip for sizes around chunk boundaries", "[unit]") {
  auto key = DataKey::Random();
  constexpr std::uint32_t kChunk = 1024;
  for (std::size_t n : {0ul, 1ul, 1023ul, 1024ul, 1025ul, 2048ul, 5000ul}) {
    Bytes plain = Pattern(n, static_cast<std::uint32_t>(n));
    Bytes ct = EncryptPayload(key, plain, kChunk);
    CHECK(ct.size() == PayloadCiphertextSize(n, kChunk));
    auto back = DecryptPayload(key, ct);
    REQUIRE(back.has_value());
    CHECK(*back == plain);
  }
}

TEST_CASE("Streaming in arbitrary pieces gives the same ciphertext layout and plaintext",
          "[unit]") {
  auto key = DataKey::Random();
  Bytes plain = Pattern(200'000, 7);
  auto enc = PayloadEncryptor::Create(key, 4096);
  REQUIRE(enc.has_value());
  Bytes ct;
  std::mt19937 rng(1);
  for (std::size_t off = 0; off < plain.size();) {
    std::size_t n = std::min<std::size_t>(rng() % 9000, plain.size() - off);
    enc->Update(ByteSpan(plain).subspan(off, n), ct);
    off += n;
  }
  enc->Finish(ct);
  CHECK(ct.size() == PayloadCiphertextSize(plain.size(), 4096));

  PayloadDecryptor dec(key);
  Bytes out;
  for (std::size_t off = 0; off < ct.size();) {
    std::size_t n = std::min<std::size_t>(rng() % 7000 + 1, ct.size() - off);
    REQUIRE(dec.Update(ByteSpan(ct).subspan(off, n), out).ok());
    off += n;
  }
  REQUIRE(dec.Finish(out).ok());
  CHECK(out == plain);
  CHECK(dec.plaintext_bytes() == plain.size());
}

TEST_CASE("Flipping any byte of the ciphertext is detected", "[unit]") {
  auto key = DataKey::Random();
  Bytes plain = Pattern(2500, 3);
  Bytes ct = EncryptPayload(key, plain, 1024);
  for (std::size_t i = 0; i < ct.size(); ++i) {
    Bytes bad = ct;
    bad[i] ^= 0x04;
    auto r = DecryptPayload(key, bad);
    CHECK_FALSE(r.has_value());
  }
}

TEST_CASE("Truncation, extension, reordering and a wrong key are detected", "[unit]") {
  auto key = DataKey::Random();
  Bytes plain = Pattern(3000, 4);
  Bytes ct = EncryptPayload(key, plain, 1024);
  const std::size_t chunk = 1024 + kPayloadChunkOverhead;

  // Dropping the final chunk: the stream ends on a MESSAGE chunk.
  Bytes truncated(ct.begin(), ct.begin() + static_cast<long>(kPayloadHeaderSize + 2 * chunk));
  auto t = DecryptPayload(key, truncated);
  REQUIRE_FALSE(t.has_value());
  CHECK(t.error().message().find("truncated") != std::string::npos);

  Bytes extended = ct;
  extended.push_back(0);
  CHECK_FALSE(DecryptPayload(key, extended).has_value());

  Bytes swapped = ct;
  std::swap_ranges(swapped.begin() + kPayloadHeaderSize,
                   swapped.begin() + static_cast<long>(kPayloadHeaderSize + chunk),
                   swapped.begin() + static_cast<long>(kPayloadHeaderSize + chunk));
  CHECK_FALSE(DecryptPayload(key, swapped).has_value());

  auto other = DataKey::Random();
  auto w = DecryptPayload(other, ct);
  REQUIRE_FALSE(w.has_value());
  CHECK(w.error().code() == StatusCode::kDataLoss);

  CHECK_FALSE(DecryptPayload(key, ByteSpan(ct).first(10)).has_value());
  Bytes bad_magic = ct;
  bad_magic[0] = 'X';
  auto m = DecryptPayload(key, bad_magic);
  REQUIRE_FALSE(m.has_value());
  CHECK(m.error().message().find("magic") != std::string::npos);
}

// Builds a ciphertext by hand with chosen chunk sizes and tags, using the format of
// docs/spec/crypto.md section 4, to check the reader's rules on streams our writer never makes.
Bytes HandMade(const DataKey& key,
               const std::vector<std::pair<std::size_t, unsigned char>>& chunks) {
  crypto_secretstream_xchacha20poly1305_state st;
  Bytes out = ToBytes("ERTRPLD1");
  PutU32Le(out, 1024);
  Bytes ad = out;
  out.resize(out.size() + crypto_secretstream_xchacha20poly1305_HEADERBYTES);
  crypto_secretstream_xchacha20poly1305_init_push(&st, out.data() + 12, key.UnsafeBytes().data());
  for (auto [size, tag] : chunks) {
    Bytes plain(size, 0x33);
    std::size_t old = out.size();
    out.resize(old + size + kPayloadChunkOverhead);
    crypto_secretstream_xchacha20poly1305_push(&st, out.data() + old, nullptr, plain.data(), size,
                                               ad.data(), ad.size(), tag);
  }
  return out;
}

TEST_CASE("The reader accepts only the chunk shapes and tags the format defines", "[unit]") {
  auto key = DataKey::Random();
  constexpr unsigned char kMessage = crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  constexpr unsigned char kFinal = crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  constexpr unsigned char kPush = crypto_secretstream_xchacha20poly1305_TAG_PUSH;
  constexpr unsigned char kRekey = crypto_secretstream_xchacha20poly1305_TAG_REKEY;
  // The hand-made writer agrees with ours on a well-formed stream.
  auto good = DecryptPayload(key, HandMade(key, {{1024, kMessage}, {10, kFinal}}));
  REQUIRE(good.has_value());
  CHECK(good->size() == 1034);
  CHECK(DecryptPayload(key, HandMade(key, {{0, kFinal}})).has_value());  // empty payload
  // Refused: PUSH or REKEY before the end, an empty final chunk after data, no chunk at all.
  CHECK_FALSE(DecryptPayload(key, HandMade(key, {{1024, kPush}, {10, kFinal}})).has_value());
  CHECK_FALSE(DecryptPayload(key, HandMade(key, {{1024, kRekey}, {10, kFinal}})).has_value());
  CHECK_FALSE(DecryptPayload(key, HandMade(key, {{1024, kMessage}, {0, kFinal}})).has_value());
  CHECK_FALSE(DecryptPayload(key, HandMade(key, {})).has_value());
  CHECK_FALSE(DecryptPayload(key, HandMade(key, {{1024, kFinal}, {10, kFinal}})).has_value());
}

TEST_CASE("Chunk sizes outside 1 KiB .. 16 MiB are refused", "[unit]") {
  auto key = DataKey::Random();
  CHECK_FALSE(PayloadEncryptor::Create(key, 1023).has_value());
  CHECK_FALSE(PayloadEncryptor::Create(key, kMaxPayloadChunkSize + 1).has_value());
  CHECK(PayloadEncryptor::Create(key, kMaxPayloadChunkSize).has_value());
}

TEST_CASE("A 64 MiB payload streams with memory bounded by one chunk", "[unit][slow]") {
  // Streams through without ever holding the payload: the decryptor's output buffer is cleared
  // after each piece, so peak memory is a few chunks whatever the payload size.
  auto key = DataKey::Random();
  auto enc = PayloadEncryptor::Create(key);
  REQUIRE(enc.has_value());
  PayloadDecryptor dec(key);
  Bytes piece(1 << 20), ct, plain;
  Hasher in_hash, out_hash;
  std::size_t max_buffer = 0;
  for (int i = 0; i < 64; ++i) {
    for (std::size_t j = 0; j < piece.size(); ++j) piece[j] = static_cast<std::uint8_t>(i + j);
    in_hash.Update(piece);
    ct.clear();
    enc->Update(piece, ct);
    plain.clear();
    REQUIRE(dec.Update(ct, plain).ok());
    out_hash.Update(plain);
    max_buffer = std::max(max_buffer, ct.capacity() + plain.capacity());
  }
  ct.clear();
  enc->Finish(ct);
  plain.clear();
  REQUIRE(dec.Update(ct, plain).ok());
  REQUIRE(dec.Finish(plain).ok());
  out_hash.Update(plain);
  CHECK(in_hash.Finish() == out_hash.Finish());
  CHECK(max_buffer < 8u << 20);
}

}  // namespace
}  // namespace ertr::crypto
