#include "crypto/hash.h"

#include <sodium.h>

#include "common/check.h"

namespace ertr::crypto {

static_assert(sizeof(crypto_generichash_state) <= 384, "Hasher state buffer too small");

namespace {
crypto_generichash_state* State(unsigned char* raw) {
  return reinterpret_cast<crypto_generichash_state*>(raw);
}
}  // namespace

Digest Hash(ByteSpan data) {
  std::array<std::uint8_t, 32> out{};
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return Digest(out);
}

Digest DomainHash(std::string_view tag, ByteSpan data) {
  Hasher h;
  h.Update(tag);
  const std::uint8_t zero = 0;
  h.Update(ByteSpan(&zero, 1));
  h.Update(data);
  return h.Finish();
}

Hasher::Hasher() { crypto_generichash_init(State(state_), nullptr, 0, 32); }

Hasher::Hasher(ByteSpan key, std::size_t out_len) : out_len_(out_len) {
  ERTR_CHECK(out_len >= crypto_generichash_BYTES_MIN && out_len <= crypto_generichash_BYTES_MAX);
  ERTR_CHECK(key.size() <= crypto_generichash_KEYBYTES_MAX);
  crypto_generichash_init(State(state_), key.empty() ? nullptr : key.data(), key.size(), out_len);
}

Hasher::~Hasher() { sodium_memzero(state_, sizeof(state_)); }

Hasher& Hasher::Update(ByteSpan data) {
  crypto_generichash_update(State(state_), data.data(), data.size());
  return *this;
}

Digest Hasher::Finish() {
  ERTR_CHECK(out_len_ == 32);
  std::array<std::uint8_t, 32> out{};
  crypto_generichash_final(State(state_), out.data(), out.size());
  return Digest(out);
}

void Hasher::FinishInto(MutableByteSpan out) {
  ERTR_CHECK(out.size() == out_len_);
  crypto_generichash_final(State(state_), out.data(), out.size());
}

}  // namespace ertr::crypto
