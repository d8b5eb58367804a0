#include "crypto/secure_buffer.h"

#include <sodium.h>

#include <utility>
#include <vector>

#include "common/check.h"

namespace ertr::crypto {

namespace {

std::uint8_t* NewGuarded(std::size_t size) {
  auto* b = static_cast<std::uint8_t*>(sodium_malloc(size));
  ERTR_CHECK(b != nullptr);
  sodium_memzero(b, size);
  return b;
}

// Each sodium_malloc maps fresh pages around the block (guard pages, mlock) and sodium_free
// unmaps them: several system calls for every data key of every record. Freed blocks of a small
// size are kept per thread, zeroed, for the next buffer of exactly that size (the size decides
// where the block ends against its guard page, so a block is reused only for its own size).
class GuardedPool {
 public:
  static thread_local inline bool gone = false;

  // Data keys and other small secrets, and the 64 KiB plaintext chunk of a payload stream
  // (one per record uploaded); a few of the large ones per thread, so little memory stays locked.
  static constexpr std::size_t kMaxPooledSize = 64 * 1024;
  static std::size_t MaxPerSize(std::size_t size) { return size <= 1024 ? 16 : 4; }

  ~GuardedPool() {
    gone = true;  // buffers freed later on this thread (static destructors) bypass the pool
    for (auto& [size, blocks] : free_) {
      for (std::uint8_t* b : blocks) sodium_free(b);
    }
  }

  std::uint8_t* Take(std::size_t size) {
    if (size <= kMaxPooledSize) {
      for (auto& [s, blocks] : free_) {
        if (s == size && !blocks.empty()) {
          std::uint8_t* b = blocks.back();
          blocks.pop_back();
          return b;  // zeroed when it was given back
        }
      }
    }
    return NewGuarded(size);
  }

  void Give(std::uint8_t* block, std::size_t size) {
    if (size <= kMaxPooledSize) {
      for (auto& [s, blocks] : free_) {
        if (s != size) continue;
        if (blocks.size() < MaxPerSize(size)) {
          sodium_memzero(block, size);
          blocks.push_back(block);
          return;
        }
        return sodium_free(block);
      }
      if (free_.size() < kMaxSizes) {
        sodium_memzero(block, size);
        free_.emplace_back(size, std::vector<std::uint8_t*>{block});
        return;
      }
    }
    sodium_free(block);  // zeroes before freeing
  }

 private:
  static constexpr std::size_t kMaxSizes = 8;
  std::vector<std::pair<std::size_t, std::vector<std::uint8_t*>>> free_;
};

GuardedPool& Pool() {
  thread_local GuardedPool pool;
  return pool;
}

}  // namespace

SecureBuffer::SecureBuffer(std::size_t size) : size_(size) {
  if (size == 0) return;
  data_ = GuardedPool::gone ? NewGuarded(size) : Pool().Take(size);
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
    if (GuardedPool::gone) {
      sodium_free(data_);  // zeroes before freeing
    } else {
      Pool().Give(data_, size_);  // zeroed in either case
    }
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
