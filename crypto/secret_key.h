#pragma once

// SecretKey<N>: N secret bytes in a SecureBuffer. Move-only, zeroed on destruction, never
// printable and never implicitly serialised: the only way to the bytes is the explicit
// UnsafeBytes(), used by crypto/ itself and by the key-file encoder.

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>

#include "crypto/secure_buffer.h"

namespace ertr::crypto {

template <std::size_t N>
class SecretKey {
 public:
  static constexpr std::size_t kSize = N;

  // A zeroed key; fill it with Fill() or a generator.
  SecretKey() : buf_(N) {}
  SecretKey(SecretKey&&) noexcept = default;
  SecretKey& operator=(SecretKey&&) noexcept = default;
  SecretKey(const SecretKey&) = delete;
  SecretKey& operator=(const SecretKey&) = delete;

  static SecretKey Random() {
    SecretKey k;
    RandomBytes(k.buf_.span());
    return k;
  }

  // Explicit access to the secret bytes. Callers must not copy them into unguarded memory.
  std::span<const std::uint8_t, N> UnsafeBytes() const {
    return std::span<const std::uint8_t, N>(buf_.data(), N);
  }
  std::span<std::uint8_t, N> MutableBytes() { return std::span<std::uint8_t, N>(buf_.data(), N); }

  // Constant-time comparison.
  bool Equals(const SecretKey& other) const {
    return ConstantTimeEqual(buf_.span(), other.buf_.span());
  }

  friend std::ostream& operator<<(std::ostream&, const SecretKey&) = delete;

 private:
  SecureBuffer buf_;
};

}  // namespace ertr::crypto
