#pragma once

// SecureBuffer: a move-only block of secret bytes in sodium-guarded memory (guard pages, locked
// against swapping where the OS allows), zeroed when it is freed. For keys, passphrases and
// plaintext that must not linger. Not printable, not copyable. Freed blocks of up to 64 KiB are
// kept zeroed in a small pool for the process (at most 4 MiB) and reused for a buffer of the same
// size (guarded allocation costs several system calls).
//
// Thread-safety: like a std::vector; distinct objects from distinct threads.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <span>
#include <string>

namespace ertr::crypto {

class SecureBuffer {
 public:
  SecureBuffer() = default;
  // Allocates size zeroed bytes. Aborts if the guarded allocation fails (out of memory).
  explicit SecureBuffer(std::size_t size);
  ~SecureBuffer();

  SecureBuffer(SecureBuffer&& other) noexcept;
  SecureBuffer& operator=(SecureBuffer&& other) noexcept;
  SecureBuffer(const SecureBuffer&) = delete;
  SecureBuffer& operator=(const SecureBuffer&) = delete;

  std::uint8_t* data() { return data_; }
  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  std::span<std::uint8_t> span() { return {data_, size_}; }
  std::span<const std::uint8_t> span() const { return {data_, size_}; }

  // Zeroes the bytes now (they are zeroed again on free).
  void Wipe();

  friend std::ostream& operator<<(std::ostream&, const SecureBuffer&) = delete;

 private:
  void Release();
  std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
};

// Zeroes memory in a way the compiler cannot optimise away (sodium_memzero).
void Wipe(std::span<std::uint8_t> bytes);
// The same for a string's bytes (plaintext chunks that travel in protobuf strings).
void Wipe(std::string& bytes);

// Constant-time equality of two byte strings of equal length; false if lengths differ.
bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

// Fills the span with cryptographically secure random bytes.
void RandomBytes(std::span<std::uint8_t> out);
// A uniformly random 64-bit value (transaction nonces).
std::uint64_t RandomU64();

// A random fixed-size id (crypto::FixedBytes) that is not all zero (record, grant, pseudonym ids).
template <typename T>
T RandomNonZeroId() {
  std::array<std::uint8_t, T::kSize> raw{};
  do {
    RandomBytes(raw);
  } while (std::all_of(raw.begin(), raw.end(), [](std::uint8_t b) { return b == 0; }));
  return *T::FromSpan(raw, "id");
}

}  // namespace ertr::crypto
