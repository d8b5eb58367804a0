#pragma once

// FixedBytes<N, Tag>: public fixed-size byte values (public keys, signatures, digests). Value
// types: copyable, ordered, hashable, printable as hex. Distinct tags keep a PublicKey from being
// passed where a Digest is expected.

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <functional>
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

 private:
  std::array<std::uint8_t, N> bytes_{};
};

}  // namespace ertr::crypto

template <std::size_t N, typename Tag>
struct std::hash<ertr::crypto::FixedBytes<N, Tag>> {
  std::size_t operator()(const ertr::crypto::FixedBytes<N, Tag>& v) const noexcept {
    std::size_t h = 0;
    for (std::size_t i = 0; i < sizeof(std::size_t) && i < N; ++i) h = (h << 8) | v.data()[i];
    return h;
  }
};
