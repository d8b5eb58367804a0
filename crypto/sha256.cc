#include "crypto/sha256.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <sodium.h>

#include <array>

#include "common/check.h"

namespace ertr::crypto {

static_assert(sizeof(crypto_hash_sha256_state) <= 128, "Sha256Hasher state buffer too small");
static_assert(crypto_hash_sha256_BYTES == 32);

namespace {

// libcrypto's SHA-256, fetched once for the process (fetching is a locked look-up); null where
// its configuration offers none, and then libsodium computes it.
const EVP_MD* LibcryptoSha256() {
  static const EVP_MD* md = [] {
    EVP_MD* m = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    if (m == nullptr) ERR_clear_error();  // leave no failed fetch for gRPC's TLS to find
    return m;
  }();
  return md;
}

crypto_hash_sha256_state* SodiumState(unsigned char* raw) {
  return reinterpret_cast<crypto_hash_sha256_state*>(raw);
}

}  // namespace

// One context per call, as EVP_Digest would make: the backend is chosen in one place.
Digest Sha256(ByteSpan data) { return Sha256Hasher().Update(data).Finish(); }

Sha256Hasher::Sha256Hasher(Sha256Backend backend) {
  const EVP_MD* md = backend == Sha256Backend::kAuto ? LibcryptoSha256() : nullptr;
  if (md != nullptr) {
    ctx_ = EVP_MD_CTX_new();
    ERTR_CHECK(ctx_ != nullptr && EVP_DigestInit_ex2(ctx_, md, nullptr) == 1);
  } else {
    crypto_hash_sha256_init(SodiumState(sodium_state_));
  }
}

// A plaintext's hash state is the patient's data in condensed form: libcrypto cleanses its own when
// the context is freed (OPENSSL_clear_free), and libsodium's is wiped here.
Sha256Hasher::~Sha256Hasher() {
  EVP_MD_CTX_free(ctx_);
  sodium_memzero(sodium_state_, sizeof(sodium_state_));
}

Sha256Hasher& Sha256Hasher::Update(ByteSpan data) {
  if (ctx_ != nullptr) {
    ERTR_CHECK(EVP_DigestUpdate(ctx_, data.data(), data.size()) == 1);
  } else {
    crypto_hash_sha256_update(SodiumState(sodium_state_), data.data(), data.size());
  }
  return *this;
}

Digest Sha256Hasher::Finish() {
  std::array<std::uint8_t, 32> out{};
  if (ctx_ != nullptr) {
    unsigned int len = 0;
    ERTR_CHECK(EVP_DigestFinal_ex(ctx_, out.data(), &len) == 1 && len == out.size());
  } else {
    crypto_hash_sha256_final(SodiumState(sodium_state_), out.data());
  }
  return Digest(out);
}

}  // namespace ertr::crypto
