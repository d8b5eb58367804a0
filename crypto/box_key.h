#pragma once

// X25519 encryption keys of institutions: record data keys are sealed to them (envelope.h).

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/fixed_bytes.h"
#include "crypto/secret_key.h"

namespace ertr::crypto {

using BoxPublicKey = FixedBytes<32, struct X25519PublicKeyTag>;

// An X25519 key pair. Move-only; the secret half lives in guarded memory.
class BoxKeyPair {
 public:
  static BoxKeyPair Generate();
  // From a 32-byte X25519 secret scalar (RFC 7748); the public key is derived.
  static Result<BoxKeyPair> FromSecretBytes(ByteSpan secret);

  const BoxPublicKey& public_key() const { return public_key_; }
  const SecretKey<32>& secret() const { return secret_; }

 private:
  BoxKeyPair() = default;
  SecretKey<32> secret_;
  BoxPublicKey public_key_;
};

// X25519(secret, peer_public): for known-answer tests of the primitive (RFC 7748 section 6.1).
// Error if the result is all zeros (a low-order peer key).
Result<SecretKey<32>> X25519(const SecretKey<32>& secret, const BoxPublicKey& peer);

}  // namespace ertr::crypto
