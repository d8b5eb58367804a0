#pragma once

// Internal to crypto/: ChaCha20 and Poly1305 (RFC 8439) computed with OpenSSL's libcrypto, whose
// vectorised code runs 2-3x faster than libsodium's on x86-64 (docs/adr/0028). The two bulk
// constructions built on them keep the formats libsodium defines, byte for byte (tested against
// libsodium): the XChaCha20-Poly1305-IETF frames of the validator links (session.cc) and the
// secretstream chunks of record payloads (payload_cipher.cc). Keys, nonces, headers, rekeying and
// messages under kLibcryptoFrom stay with libsodium.
//
// Thread-safety: one ChaChaPoly per stream or direction, used by one thread at a time.

#include <openssl/types.h>
#include <sodium.h>

#include <cstddef>
#include <cstdint>

#include "common/bytes.h"

namespace ertr::crypto::internal {

// Messages shorter than this go to libsodium's own functions instead (the same bytes): for a
// vote or a small record, libcrypto's per-call set-up costs about what its faster loops save
// (with every frame on libcrypto, one null command in flight cost 3 % more validator CPU, at the
// edge of the noise: ADR 0028).
inline constexpr std::size_t kLibcryptoFrom = 16 * 1024;

class ChaChaPoly {
 public:
  // `libcrypto_from` is for tests, which use 0 to check libcrypto's path at every size. The
  // libcrypto contexts are made on first use, so short messages alone never allocate them.
  explicit ChaChaPoly(std::size_t libcrypto_from = kLibcryptoFrom);
  ~ChaChaPoly();
  ChaChaPoly(ChaChaPoly&& other) noexcept;
  ChaChaPoly& operator=(ChaChaPoly&& other) noexcept;
  ChaChaPoly(const ChaChaPoly&) = delete;
  ChaChaPoly& operator=(const ChaChaPoly&) = delete;

  // RFC 8439 AEAD: out[0, n) = ciphertext, out[n, n + 16) = tag, for n = plain.size().
  void AeadSeal(const std::uint8_t* key32, const std::uint8_t* nonce12, ByteSpan ad, ByteSpan plain,
                std::uint8_t* out);
  // Checks the tag of `sealed` (ciphertext || tag) before decrypting it into
  // out[0, sealed.size() - 16). False if it does not verify, with no plaintext in `out` (it is
  // left as it was, or zeroed).
  // Requires: sealed.size() >= 16.
  bool AeadOpen(const std::uint8_t* key32, const std::uint8_t* nonce12, ByteSpan ad,
                ByteSpan sealed, std::uint8_t* out);

  // The first n bytes of the ChaCha20 keystream of (key, nonce) from block 0 (libsodium's
  // crypto_stream_chacha20_ietf), from libcrypto at every size where it is available: the state
  // root calls it for 2 KiB at a time, in tight loops.
  void Keystream(const std::uint8_t* key32, const std::uint8_t* nonce12, std::uint8_t* out,
                 std::size_t n);

  // One secretstream chunk, exactly as libsodium's crypto_secretstream_xchacha20poly1305_push and
  // _pull, over libsodium's own state (initialised and rekeyed by libsodium).
  // Push writes plain.size() + 17 bytes to `out`.
  void SecretstreamPush(crypto_secretstream_xchacha20poly1305_state& state, ByteSpan plain,
                        ByteSpan ad, std::uint8_t tag, std::uint8_t* out);
  // Pull writes sealed.size() - 17 bytes to `out` and sets `tag`; false if the chunk does not
  // verify, with the state unchanged, no plaintext in `out` (as it was, or zeroed) and `tag`
  // unspecified.
  // Requires: sealed.size() >= 17.
  bool SecretstreamPull(crypto_secretstream_xchacha20poly1305_state& state, ByteSpan sealed,
                        ByteSpan ad, std::uint8_t& tag, std::uint8_t* out);

 private:
  // Starts the keystream of (key, nonce) at block 0 and writes its first n bytes to `first` (the
  // Poly1305 key is the first 32); Xor then continues the keystream after them. Requires: n > 0.
  void Start(const std::uint8_t* key32, const std::uint8_t* nonce12, std::uint8_t* first,
             std::size_t n);
  // Start, then Poly1305 keyed with first[0, 32) over the associated data and its padding.
  void Begin(const std::uint8_t* key32, const std::uint8_t* nonce12, ByteSpan ad,
             std::uint8_t* first, std::size_t n);
  // Encrypts `plain` into `out` and authenticates the ciphertext, slice by slice.
  void EncryptAndMac(ByteSpan plain, std::uint8_t* out);
  void Xor(const std::uint8_t* in, std::uint8_t* out, std::size_t n);
  void MacStart(const std::uint8_t* key32);
  void MacUpdate(const std::uint8_t* data, std::size_t n);
  void MacZeros(std::size_t n);  // n <= 16
  void MacPad(std::size_t n);    // zeros up to the next multiple of 16 after n bytes
  // `zeros` zero bytes, then u64le(ad_len) || u64le(data_len), then the tag.
  void MacEnd(std::size_t zeros, std::uint64_t ad_len, std::uint64_t data_len,
              std::uint8_t (&tag)[16]);
  void MakeContexts();
  void Release();

  std::size_t libcrypto_from_;
  EVP_CIPHER_CTX* cipher_ = nullptr;
  EVP_MAC_CTX* mac_ = nullptr;
};

}  // namespace ertr::crypto::internal
