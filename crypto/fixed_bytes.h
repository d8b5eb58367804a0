#pragma once

// FixedBytes<N, Tag>: public fixed-size byte values (public keys, signatures, digests). Value
// types: copyable, ordered, hashable, printable as hex. Distinct tags keep a PublicKey from being
// passed where a Digest is expected.

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <random>
#include <span>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"

namespace ertr::crypto {

template <std::size_t N, typename Tag>
class FixedBytes {
 public:
  static constexpr std::size_t kSize = N;

  constexpr FixedBytes() = default;
  explicit FixedBytes(const std::array<std::uint8_t, N>& bytes) : bytes_(bytes) {}

  // Parses exactly N bytes; the error names `field` and the length found.
  static Result<FixedBytes> FromSpan(ByteSpan bytes, std::string_view field) {
    if (bytes.size() != N) {
      return Status::InvalidArgument("field '" + std::string(field) + "' must be " +
                                     std::to_string(N) + " bytes, got " +
                                     std::to_string(bytes.size()));
    }
    FixedBytes out;
    std::copy(bytes.begin(), bytes.end(), out.bytes_.begin());
    return out;
  }
  static Result<FixedBytes> FromHex(std::string_view hex, std::string_view field) {
    auto raw = ertr::FromHex(hex);
    if (!raw) return raw.error().WithContext("field '" + std::string(field) + "'");
    return FromSpan(*raw, field);
  }

  const std::uint8_t* data() const { return bytes_.data(); }
  std::uint8_t* data() { return bytes_.data(); }
  static constexpr std::size_t size() { return N; }
  ByteSpan span() const { return {bytes_.data(), N}; }
  const std::array<std::uint8_t, N>& array() const { return bytes_; }
  Bytes ToBytes() const { return Bytes(bytes_.begin(), bytes_.end()); }
  std::string ToHex() const { return ertr::ToHex(span()); }
  // First 8 hex digits, for logs.
  std::string ShortHex() const { return ToHex().substr(0, 8); }
  bool IsZero() const {
    return std::all_of(bytes_.begin(), bytes_.end(), [](std::uint8_t b) { return b == 0; });
  }

  auto operator<=>(const FixedBytes&) const = default;
  // Eight bytes at a time, inline: hash tables keyed by digests compare many of them, and the
  // defaulted comparison called memcmp for each (not constant time: never for secrets).
  bool operator==(const FixedBytes& other) const {
    std::uint64_t diff = 0;
    std::size_t i = 0;
    for (; i + 8 <= N; i += 8) {
      std::uint64_t a = 0, b = 0;
      std::memcpy(&a, bytes_.data() + i, 8);
      std::memcpy(&b, other.bytes_.data() + i, 8);
      diff |= a ^ b;
    }
    for (; i < N; ++i) diff |= static_cast<std::uint64_t>(bytes_[i] ^ other.bytes_[i]);
    return diff == 0;
  }

 private:
  std::array<std::uint8_t, N> bytes_{};
};

}  // namespace ertr::crypto

namespace ertr::crypto::internal {
// A random key per process, so that nobody can choose values (transaction ids are a signer's to
// grind) that fall into one bucket of a hash table. Hash tables of these values must therefore
// never be iterated where the order matters (replicas must stay deterministic).
inline std::uint64_t HashSeed() {
  static const std::uint64_t seed = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
  }();
  return seed;
}
}  // namespace ertr::crypto::internal

template <std::size_t N, typename Tag>
struct std::hash<ertr::crypto::FixedBytes<N, Tag>> {
  std::size_t operator()(const ertr::crypto::FixedBytes<N, Tag>& v) const noexcept {
    std::uint64_t h = ertr::crypto::internal::HashSeed();
    for (std::size_t i = 0; i < N; i += 8) {  // every byte counts, eight at a time
      std::uint64_t word = 0;
      std::memcpy(&word, v.data() + i, std::min<std::size_t>(8, N - i));
      h = (h ^ word) * 0x9e3779b97f4a7c15ULL;
      h ^= h >> 29;
    }
    return static_cast<std::size_t>(h);
  }
};
