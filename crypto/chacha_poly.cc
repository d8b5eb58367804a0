#include "crypto/chacha_poly.h"

#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/check.h"
#include "crypto/init.h"

namespace ertr::crypto::internal {

namespace {

constexpr std::size_t kBlock = 64;
constexpr std::size_t kTagSize = 16;
// Ciphertext is encrypted and authenticated in slices of this size, so that Poly1305 reads what
// ChaCha20 has just written while it is still in the core's cache.
constexpr std::size_t kSlice = 16 * 1024;

static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == 1 + kTagSize);
// libsodium's secretstream nonce: u32le(counter) || an 8-byte internal nonce.
constexpr std::size_t kCounterBytes = 4;
constexpr std::size_t kInonceBytes = 8;
static_assert(sizeof(crypto_secretstream_xchacha20poly1305_state::nonce) ==
              kCounterBytes + kInonceBytes);

// libcrypto's algorithm objects, fetched once for the process (fetching is a locked look-up).
// Both null where libcrypto's configuration offers no ChaCha20 or Poly1305 (a provider set
// without them, such as a FIPS-only one): then every message goes to libsodium.
struct Algorithms {
  EVP_CIPHER* chacha20 = nullptr;
  EVP_MAC* poly1305 = nullptr;
};

const Algorithms& Libcrypto() {
  static const Algorithms algorithms = [] {
    Algorithms a{EVP_CIPHER_fetch(nullptr, "ChaCha20", nullptr),
                 EVP_MAC_fetch(nullptr, "POLY1305", nullptr)};
    if (a.chacha20 == nullptr || a.poly1305 == nullptr) {
      EVP_CIPHER_free(a.chacha20);
      EVP_MAC_free(a.poly1305);
      a = {};
      ERR_clear_error();  // leave no failed fetch on this thread's queue for gRPC's TLS to find
    }
    return a;
  }();
  return algorithms;
}

// After a secretstream chunk: the internal nonce absorbs the tag, the counter moves on, and the key
// is renewed when asked or when the counter wraps (libsodium's own rekeying).
void AdvanceSecretstream(crypto_secretstream_xchacha20poly1305_state& state, std::uint8_t tag,
                         const std::uint8_t (&mac)[kTagSize]) {
  std::uint8_t* counter = state.nonce;
  std::uint8_t* inonce = state.nonce + kCounterBytes;
  for (std::size_t i = 0; i < kInonceBytes; ++i) {
    inonce[i] ^= mac[i];
  }
  sodium_increment(counter, kCounterBytes);
  if ((tag & crypto_secretstream_xchacha20poly1305_TAG_REKEY) != 0 ||
      sodium_is_zero(counter, kCounterBytes)) {
    crypto_secretstream_xchacha20poly1305_rekey(&state);
  }
}

// The zeros libsodium's secretstream puts after a chunk's ciphertext: its formula,
// (16 - 64 + n) mod 16, is n mod 16 rather than the padding to a multiple of 16 that RFC 8439
// uses. Part of the format, so kept.
std::size_t SecretstreamPadding(std::size_t n) { return (0x10 - kBlock + n) & 0xf; }

// RFC 8439's padding: zeros up to the next multiple of 16.
std::size_t PadTo16(std::size_t n) { return (16 - n % 16) % 16; }

}  // namespace

}  // namespace ertr::crypto::internal

namespace ertr::crypto {

bool BulkCiphersOnLibcrypto() { return internal::Libcrypto().chacha20 != nullptr; }

}  // namespace ertr::crypto

namespace ertr::crypto::internal {

ChaChaPoly::ChaChaPoly(std::size_t libcrypto_from)
    : libcrypto_from_(BulkCiphersOnLibcrypto() ? libcrypto_from : SIZE_MAX) {}

void ChaChaPoly::MakeContexts() {
  const Algorithms& libcrypto = Libcrypto();
  cipher_ = EVP_CIPHER_CTX_new();
  mac_ = EVP_MAC_CTX_new(libcrypto.poly1305);
  ERTR_CHECK(cipher_ != nullptr && mac_ != nullptr);
  ERTR_CHECK(EVP_CipherInit_ex2(cipher_, libcrypto.chacha20, nullptr, nullptr, 1, nullptr) == 1);
}

ChaChaPoly::~ChaChaPoly() { Release(); }

ChaChaPoly::ChaChaPoly(ChaChaPoly&& other) noexcept
    : libcrypto_from_(other.libcrypto_from_),
      cipher_(std::exchange(other.cipher_, nullptr)),
      mac_(std::exchange(other.mac_, nullptr)) {}

ChaChaPoly& ChaChaPoly::operator=(ChaChaPoly&& other) noexcept {
  if (this != &other) {
    Release();
    libcrypto_from_ = other.libcrypto_from_;
    cipher_ = std::exchange(other.cipher_, nullptr);
    mac_ = std::exchange(other.mac_, nullptr);
  }
  return *this;
}

// Both free functions cleanse the key material the contexts hold.
void ChaChaPoly::Release() {
  EVP_CIPHER_CTX_free(cipher_);
  EVP_MAC_CTX_free(mac_);
  cipher_ = nullptr;
  mac_ = nullptr;
}

void ChaChaPoly::Keystream(const std::uint8_t* key32, const std::uint8_t* nonce12,
                           std::uint8_t* out, std::size_t n) {
  if (n == 0) return;
  if (libcrypto_from_ == SIZE_MAX) {
    crypto_stream_chacha20_ietf(out, n, nonce12, key32);
    return;
  }
  Start(key32, nonce12, out, n);
}

void ChaChaPoly::Start(const std::uint8_t* key32, const std::uint8_t* nonce12, std::uint8_t* first,
                       std::size_t n) {
  if (cipher_ == nullptr) MakeContexts();
  std::uint8_t iv[16] = {};  // libcrypto's ChaCha20 IV: u32le(block counter) || nonce
  std::memcpy(iv + 4, nonce12, 12);
  ERTR_CHECK(EVP_CipherInit_ex2(cipher_, nullptr, key32, iv, 1, nullptr) == 1);
  std::memset(first, 0, n);
  Xor(first, first, n);
}

void ChaChaPoly::Xor(const std::uint8_t* in, std::uint8_t* out, std::size_t n) {
  while (n > 0) {
    int len = static_cast<int>(std::min<std::size_t>(n, 1 << 30));
    int written = 0;
    ERTR_CHECK(EVP_CipherUpdate(cipher_, out, &written, in, len) == 1 && written == len);
    in += len;
    out += len;
    n -= static_cast<std::size_t>(len);
  }
}

void ChaChaPoly::MacStart(const std::uint8_t* key32) {
  ERTR_CHECK(EVP_MAC_init(mac_, key32, 32, nullptr) == 1);
}

void ChaChaPoly::MacUpdate(const std::uint8_t* data, std::size_t n) {
  if (n > 0) ERTR_CHECK(EVP_MAC_update(mac_, data, n) == 1);
}

void ChaChaPoly::MacZeros(std::size_t n) {
  static constexpr std::uint8_t kZeros[16] = {};
  ERTR_CHECK(n <= sizeof(kZeros));
  MacUpdate(kZeros, n);
}

void ChaChaPoly::MacPad(std::size_t n) { MacZeros(PadTo16(n)); }

void ChaChaPoly::MacEnd(std::size_t zeros, std::uint64_t ad_len, std::uint64_t data_len,
                        std::uint8_t (&tag)[kTagSize]) {
  MacZeros(zeros);
  std::uint8_t lengths[16];
  for (int i = 0; i < 8; ++i) {
    lengths[i] = static_cast<std::uint8_t>(ad_len >> (8 * i));
    lengths[8 + i] = static_cast<std::uint8_t>(data_len >> (8 * i));
  }
  MacUpdate(lengths, sizeof(lengths));
  std::size_t len = 0;
  ERTR_CHECK(EVP_MAC_final(mac_, tag, &len, kTagSize) == 1 && len == kTagSize);
}

void ChaChaPoly::Begin(const std::uint8_t* key32, const std::uint8_t* nonce12, ByteSpan ad,
                       std::uint8_t* first, std::size_t n) {
  Start(key32, nonce12, first, n);
  MacStart(first);
  MacUpdate(ad.data(), ad.size());
  MacPad(ad.size());
}

void ChaChaPoly::EncryptAndMac(ByteSpan plain, std::uint8_t* out) {
  for (std::size_t at = 0; at < plain.size(); at += kSlice) {
    const std::size_t n = std::min(kSlice, plain.size() - at);
    Xor(plain.data() + at, out + at, n);
    MacUpdate(out + at, n);
  }
}

void ChaChaPoly::AeadSeal(const std::uint8_t* key32, const std::uint8_t* nonce12, ByteSpan ad,
                          ByteSpan plain, std::uint8_t* out) {
  if (plain.size() < libcrypto_from_) {
    crypto_aead_chacha20poly1305_ietf_encrypt(out, nullptr, plain.data(), plain.size(), ad.data(),
                                              ad.size(), nullptr, nonce12, key32);
    return;
  }
  std::uint8_t block[kBlock];
  Begin(key32, nonce12, ad, block, sizeof(block));
  sodium_memzero(block, sizeof(block));
  EncryptAndMac(plain, out);
  std::uint8_t tag[kTagSize];
  MacEnd(PadTo16(plain.size()), ad.size(), plain.size(), tag);
  std::memcpy(out + plain.size(), tag, kTagSize);
}

bool ChaChaPoly::AeadOpen(const std::uint8_t* key32, const std::uint8_t* nonce12, ByteSpan ad,
                          ByteSpan sealed, std::uint8_t* out) {
  ERTR_CHECK(sealed.size() >= kTagSize);
  const std::size_t n = sealed.size() - kTagSize;
  if (n < libcrypto_from_) {
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, nullptr, nullptr, sealed.data(),
                                                     sealed.size(), ad.data(), ad.size(), nonce12,
                                                     key32) == 0;
  }
  std::uint8_t block[kBlock];
  Begin(key32, nonce12, ad, block, sizeof(block));
  sodium_memzero(block, sizeof(block));
  MacUpdate(sealed.data(), n);
  std::uint8_t tag[kTagSize];
  MacEnd(PadTo16(n), ad.size(), n, tag);
  if (sodium_memcmp(tag, sealed.data() + n, kTagSize) != 0) return false;
  Xor(sealed.data(), out, n);
  return true;
}

void ChaChaPoly::SecretstreamPush(crypto_secretstream_xchacha20poly1305_state& state,
                                  ByteSpan plain, ByteSpan ad, std::uint8_t tag,
                                  std::uint8_t* out) {
  if (plain.size() < libcrypto_from_) {
    crypto_secretstream_xchacha20poly1305_push(&state, out, nullptr, plain.data(), plain.size(),
                                               ad.data(), ad.size(), tag);
    return;
  }
  // Block 0 keys Poly1305, block 1 encrypts the tag (padded to a block), the message starts at 2.
  std::uint8_t blocks[2 * kBlock];
  Begin(state.k, state.nonce, ad, blocks, sizeof(blocks));
  std::uint8_t* tag_block = blocks + kBlock;
  tag_block[0] ^= tag;
  MacUpdate(tag_block, kBlock);
  out[0] = tag_block[0];
  sodium_memzero(blocks, sizeof(blocks));
  std::uint8_t* c = out + 1;
  EncryptAndMac(plain, c);
  std::uint8_t mac[kTagSize];
  MacEnd(SecretstreamPadding(plain.size()), ad.size(), kBlock + plain.size(), mac);
  std::memcpy(c + plain.size(), mac, kTagSize);
  AdvanceSecretstream(state, tag, mac);
}

bool ChaChaPoly::SecretstreamPull(crypto_secretstream_xchacha20poly1305_state& state,
                                  ByteSpan sealed, ByteSpan ad, std::uint8_t& tag,
                                  std::uint8_t* out) {
  ERTR_CHECK(sealed.size() >= 1 + kTagSize);
  const std::size_t n = sealed.size() - 1 - kTagSize;
  if (n < libcrypto_from_) {
    return crypto_secretstream_xchacha20poly1305_pull(&state, out, nullptr, &tag, sealed.data(),
                                                      sealed.size(), ad.data(), ad.size()) == 0;
  }
  std::uint8_t blocks[2 * kBlock];
  Begin(state.k, state.nonce, ad, blocks, sizeof(blocks));
  std::uint8_t* tag_block = blocks + kBlock;
  const std::uint8_t decrypted_tag = tag_block[0] ^ sealed[0];
  tag_block[0] = sealed[0];
  MacUpdate(tag_block, kBlock);
  sodium_memzero(blocks, sizeof(blocks));
  const std::uint8_t* c = sealed.data() + 1;
  MacUpdate(c, n);
  std::uint8_t mac[kTagSize];
  MacEnd(SecretstreamPadding(n), ad.size(), kBlock + n, mac);
  if (sodium_memcmp(mac, c + n, kTagSize) != 0) return false;
  Xor(c, out, n);
  tag = decrypted_tag;
  AdvanceSecretstream(state, decrypted_tag, mac);
  return true;
}

}  // namespace ertr::crypto::internal
