#include <catch2/catch.hpp>

#include <numeric>

#include "crypto/hash.h"
#include "crypto/sha256.h"

namespace ertr::crypto {
namespace {

struct OddTag {};
template <std::size_t N>
void CheckEqualityByteByByte() {
  std::array<std::uint8_t, N> raw{};
  std::iota(raw.begin(), raw.end(), 1);
  const FixedBytes<N, OddTag> a(raw);
  CHECK(a == FixedBytes<N, OddTag>(raw));
  for (std::size_t i = 0; i < N; ++i) {
    for (std::uint8_t bit : {0x01, 0x80}) {
      auto changed = raw;
      changed[i] ^= bit;
      const FixedBytes<N, OddTag> b(changed);
      CHECK_FALSE(a == b);
      CHECK(a != b);
      CHECK(((a < b) || (b < a)));  // equality and ordering agree
    }
  }
}

TEST_CASE("Fixed-size values are equal only when every byte is", "[unit]") {
  CheckEqualityByteByByte<32>();  // digests and keys
  CheckEqualityByteByByte<64>();  // signatures
  CheckEqualityByteByByte<20>();  // a size that is not a multiple of eight
  CheckEqualityByteByByte<5>();
}

TEST_CASE("BLAKE2b matches RFC 7693 Appendix A", "[unit]") {
  Hasher h({}, 64);
  h.Update("abc");
  std::array<std::uint8_t, 64> out{};
  h.FinishInto(out);
  CHECK(ToHex(out) ==
        "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
        "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923");
}

TEST_CASE("BLAKE2b-256 known answers (cross-checked with Python hashlib)", "[unit]") {
  CHECK(Hash({}).ToHex() == "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  CHECK(Hash(AsBytes("abc")).ToHex() ==
        "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
  Bytes seq(255);
  std::iota(seq.begin(), seq.end(), 0);
  CHECK(Hash(seq).ToHex() == "1d0850ee9bca0abc9601e9deabe1418fedec2fb6ac4150bd5302d2430f9be943");
}

TEST_CASE("Keyed BLAKE2b-512 matches the BLAKE2 reference KAT", "[unit]") {
  Bytes key(64), in(64);
  std::iota(key.begin(), key.end(), 0);
  std::iota(in.begin(), in.end(), 0);
  Hasher h(key, 64);
  h.Update(in);
  std::array<std::uint8_t, 64> out{};
  h.FinishInto(out);
  CHECK(ToHex(out) ==
        "65676d800617972fbd87e4b9514e1c67402b7a331096d3bfac22f1abb95374ab"
        "c942f16e9ab0ead33b87c91968a6e509e119ff07787b3ef483e1dcdccf6e3022");
}

TEST_CASE("Domain hashes are tag || NUL || data and differ by tag", "[unit]") {
  CHECK(DomainHash("ertr/txid/v1", AsBytes("hello")).ToHex() ==
        "d1ae3fc6b787e11169c3a5448f386975aa80e053161f579bbf1a46ceb8b48d59");
  CHECK(DomainHash("ertr/block/v1", AsBytes("hello")) !=
        DomainHash("ertr/txid/v1", AsBytes("hello")));
}

TEST_CASE("Incremental hashing equals one-shot hashing for any split", "[unit]") {
  Bytes data(10000);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::uint8_t>(i * 7 + 3);
  Digest whole = Hash(data);
  for (std::size_t split : {0ul, 1ul, 127ul, 128ul, 129ul, 5000ul, 10000ul}) {
    Hasher h;
    h.Update(ByteSpan(data).first(split)).Update(ByteSpan(data).subspan(split));
    CHECK(h.Finish() == whole);
  }
}

TEST_CASE("SHA-256 matches the FIPS 180-4 examples one-shot and for any split", "[unit]") {
  CHECK(Sha256({}).ToHex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(Sha256(AsBytes("abc")).ToHex() ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(Sha256(AsBytes(two_blocks)).ToHex() ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const Bytes million(1'000'000, 'a');
  const std::string want = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
  CHECK(Sha256(million).ToHex() == want);
  for (auto backend : {Sha256Backend::kAuto, Sha256Backend::kLibsodium}) {
    for (std::size_t split : {0ul, 1ul, 63ul, 64ul, 65ul, 500'000ul, 1'000'000ul}) {
      Sha256Hasher h(backend);
      h.Update(ByteSpan(million).first(split)).Update(ByteSpan(million).subspan(split));
      CHECK(h.Finish().ToHex() == want);
    }
    Sha256Hasher abc(backend);
    CHECK(abc.Update(AsBytes("abc")).Finish() == Sha256(AsBytes("abc")));
  }
  CHECK(Sha256(AsBytes("abc")) != Hash(AsBytes("abc")));  // not BLAKE2b under another name
}

}  // namespace
}  // namespace ertr::crypto
