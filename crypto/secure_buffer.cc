#include "crypto/secure_buffer.h"

#include <sodium.h>

#include <mutex>
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
// unmaps them (a TLB shootdown on every core): several system calls for every data key of every
// record. Freed blocks of a small size are kept, zeroed, for the next buffer of exactly that size
// (the size decides where the block ends against its guard page, so a block is reused only for
// its own size). One pool for the process, not one per thread: an upload's buffers are made on
// one gRPC thread and freed on another or on the io thread, so per-thread pools filled up only on
// the threads that free, and the threads that allocate mapped fresh pages every time.
class GuardedPool {
 public:
  // Data keys and other small secrets, and the 64 KiB plaintext chunk of a payload stream (one
  // per record being uploaded): as many as a busy node has uploads in flight, up to 64 blocks of
  // one size and 4 MiB of pooled bytes in all (locked memory counts against RLIMIT_MEMLOCK; past
  // it libsodium leaves new blocks unlocked).
  static constexpr std::size_t kMaxPooledSize = 64 * 1024;
  static constexpr std::size_t kMaxPerSize = 64;
  static constexpr std::size_t kMaxPooledBytes = std::size_t{4} << 20;

  std::uint8_t* Take(std::size_t size) {
    if (size <= kMaxPooledSize) {
      std::lock_guard lock(mu_);
      for (auto& [s, blocks] : free_) {
        if (s == size && !blocks.empty()) {
          std::uint8_t* b = blocks.back();
          blocks.pop_back();
          pooled_bytes_ -= size;
          return b;  // zeroed when it was given back
        }
      }
    }
    return NewGuarded(size);
  }

  void Give(std::uint8_t* block, std::size_t size) {
    if (size <= kMaxPooledSize) {
      sodium_memzero(block, size);
      std::lock_guard lock(mu_);
      if (Keep(block, size)) return;
    }
    sodium_free(block);  // zeroes before freeing
  }

 private:
  // Keeps a zeroed block if its size has room (mu_ held).
  bool Keep(std::uint8_t* block, std::size_t size) {
    if (pooled_bytes_ + size > kMaxPooledBytes) return false;
    for (auto& [s, blocks] : free_) {
      if (s != size) continue;
      if (blocks.size() >= kMaxPerSize) return false;
      blocks.push_back(block);
      pooled_bytes_ += size;
      return true;
    }
    if (free_.size() >= kMaxSizes) return false;
    free_.emplace_back(size, std::vector<std::uint8_t*>{block});
    pooled_bytes_ += size;
    return true;
  }

  static constexpr std::size_t kMaxSizes = 8;
  std::mutex mu_;
  std::vector<std::pair<std::size_t, std::vector<std::uint8_t*>>> free_;
  std::size_t pooled_bytes_ = 0;
};

// Never destroyed: threads may still free buffers while the process exits. The pooled blocks
// are zeroed; the kernel reclaims them with the process.
GuardedPool& Pool() {
  static auto* pool = new GuardedPool;
  return *pool;
}

}  // namespace

SecureBuffer::SecureBuffer(std::size_t size) : size_(size) {
  if (size == 0) return;
  data_ = Pool().Take(size);
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
    Pool().Give(data_, size_);  // zeroed, whether pooled or freed
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
