#pragma once

// The hash of everything ertrchain orders or signs: BLAKE2b with a 256-bit output (RFC 7693),
// through libsodium's crypto_generichash. Transaction ids, block hashes, Merkle nodes, API request
// digests and state roots are Digests made here; a record's bulk data (its ciphertext's content
// address, its plaintext's digest) is named by SHA-256 instead (crypto/sha256.h, ADR 0031).

#include <string_view>

#include "common/bytes.h"
#include "crypto/fixed_bytes.h"

namespace ertr::crypto {

using Digest = FixedBytes<32, struct DigestTag>;

// BLAKE2b-256 of the bytes.
Digest Hash(ByteSpan data);

// BLAKE2b-256 of (tag || 0x00 || data): a hash separated by a domain tag so that the digest of a
// block header can never equal the digest of a transaction body. Requires: tag has no NUL byte.
Digest DomainHash(std::string_view tag, ByteSpan data);

// Incremental BLAKE2b-256 for data hashed in pieces. Not copyable.
class Hasher {
 public:
  Hasher();
  // Optional key of 16..64 bytes makes it a MAC (BLAKE2b keyed mode); used for tests' KATs.
  explicit Hasher(ByteSpan key, std::size_t out_len = 32);
  Hasher(const Hasher&) = delete;
  Hasher& operator=(const Hasher&) = delete;
  ~Hasher();

  Hasher& Update(ByteSpan data);
  Hasher& Update(std::string_view data) { return Update(AsBytes(data)); }
  // Finishes and returns the digest. Requires: called once, with out_len == 32.
  Digest Finish();
  // Finishes into out (of the out_len given at construction).
  void FinishInto(MutableByteSpan out);

 private:
  alignas(64) unsigned char state_[384];
  std::size_t out_len_ = 32;
};

}  // namespace ertr::crypto
