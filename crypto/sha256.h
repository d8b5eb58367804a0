#pragma once

// SHA-256 (FIPS 180-4), the one digest in the system besides BLAKE2b (docs/adr/0031). It names
// bulk data, where BLAKE2b names everything the chain orders or signs:
// - a record's ciphertext: its `ciphertext_digest` on the chain, the name of its blob in every
//   node's blob store, and what every holder and puller checks a blob against;
// - a record's plaintext as uploaded (the API's `plaintext_digest`).
// A large record is hashed several times before it commits. libcrypto computes SHA-256 with the
// CPU's SHA extensions where they exist (1.7-1.8 GB/s per core on the development machine, against
// 1.05 GB/s for libsodium's BLAKE2b); where libcrypto offers no SHA-256, libsodium's computes the
// same bytes.
//
// Thread-safety: Sha256 is safe from any thread; one Sha256Hasher per stream.

#include "common/bytes.h"
#include "crypto/hash.h"

struct evp_md_ctx_st;

namespace ertr::crypto {

// SHA-256 of the bytes (`sha256sum FILE` shows it for a file or a blob on disk).
Digest Sha256(ByteSpan data);

// Which implementation computes it: libcrypto's where it offers SHA-256, else libsodium's; tests
// force libsodium's to check that path too.
enum class Sha256Backend { kAuto, kLibsodium };

// Incremental SHA-256 for data streamed in pieces. Not copyable.
class Sha256Hasher {
 public:
  explicit Sha256Hasher(Sha256Backend backend = Sha256Backend::kAuto);
  Sha256Hasher(const Sha256Hasher&) = delete;
  Sha256Hasher& operator=(const Sha256Hasher&) = delete;
  ~Sha256Hasher();

  Sha256Hasher& Update(ByteSpan data);
  // Finishes and returns the digest. Requires: called once.
  Digest Finish();

 private:
  evp_md_ctx_st* ctx_ = nullptr;                 // libcrypto's, when it offers SHA-256
  alignas(16) unsigned char sodium_state_[128];  // else libsodium's crypto_hash_sha256_state
};

}  // namespace ertr::crypto
