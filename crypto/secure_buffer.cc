#include "crypto/secure_buffer.h"

#include <sodium.h>

#include <utility>

#include "common/check.h"

namespace ertr::crypto {

SecureBuffer::SecureBuffer(std::size_t size) : size_(size) {
  if (size == 0) return;
  data_ = static_cast<std::uint8_t*>(sodium_malloc(size));
  ERTR_CHECK(data_ != nullptr);
  sodium_memzero(data_, size);
}

SecureBuffer::~SecureBuffer() { Release(); }

SecureBuffer::SecureBuffer(SecureBuffer&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecureBuffer& SecureBuffer::operator=(SecureBuffer&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void SecureBuffer::Wipe() {
  if (data_ != nullptr) sodium_memzero(data_, size_);
}

void SecureBuffer::Release() {
  if (data_ != nullptr) {
    sodium_free(data_);  // zeroes before freeing
    data_ = nullptr;
    size_ = 0;
  }
}

void Wipe(std::span<std::uint8_t> bytes) {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

bool ConstantTimeEqual(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

void RandomBytes(std::span<std::uint8_t> out) {
  if (!out.empty()) randombytes_buf(out.data(), out.size());
}

std::uint64_t RandomU64() {
  std::uint64_t v = 0;
  RandomBytes(std::span(reinterpret_cast<std::uint8_t*>(&v), sizeof v));
  return v;
}

void Wipe(std::string& bytes) {
  if (!bytes.empty()) sodium_memzero(bytes.data(), bytes.size());
}

}  // namespace ertr::crypto
