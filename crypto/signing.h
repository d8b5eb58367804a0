#pragma once

// Ed25519 signing identities (node keys, user keys, patient keys) and the signed-message format.
//
// Every signature in ertrchain is over a domain-separated message (docs/spec/crypto.md section 2):
//   message = tag || 0x00 || u8(len(chain_id)) || chain_id || payload
// where tag names what is signed ("ertr/tx/v1", "ertr/commit/v1", ...). A signature made for one
// purpose or one chain can therefore never be replayed as another, or on another chain.

#include <memory>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/fixed_bytes.h"
#include "crypto/secret_key.h"

namespace ertr::crypto {

using PublicKey = FixedBytes<32, struct Ed25519PublicKeyTag>;
using Signature = FixedBytes<64, struct Ed25519SignatureTag>;

// What a signature is for. The tags are part of the wire format: never change one, only add.
enum class SigningDomain : std::uint8_t {
  kTransaction = 1,  // "ertr/tx/v1": a transaction body
  kPrePrepare = 2,   // "ertr/pre-prepare/v1": a primary's proposal
  kPrepare = 3,      // "ertr/prepare/v1"
  kCommit = 4,       // "ertr/commit/v1": commit votes, the signatures of a commit certificate
  kCheckpoint = 5,   // "ertr/checkpoint/v1"
  kViewChange = 6,   // "ertr/view-change/v1"
  kNewView = 7,      // "ertr/new-view/v1"
  kHandshake = 8,    // "ertr/handshake/v1": node-to-node transport handshake
  kApiRequest = 9,   // "ertr/api-request/v1": an authenticated API call
  kConsent = 10,     // "ertr/consent/v1": a patient's own signature on a consent decision
};

std::string_view SigningDomainTag(SigningDomain domain);

// Longest chain id accepted anywhere.
inline constexpr std::size_t kMaxChainIdLength = 64;

// Builds the exact bytes that are signed. Error if chain_id is empty or longer than 64 bytes.
Result<Bytes> SignedMessage(SigningDomain domain, std::string_view chain_id, ByteSpan payload);

// An Ed25519 key pair. Move-only; the secret half lives in guarded memory.
class SigningKey {
 public:
  static SigningKey Generate();
  // Deterministic key from a 32-byte seed (RFC 8032 private key).
  static Result<SigningKey> FromSeed(ByteSpan seed);
  // From libsodium's 64-byte secret key (seed || public key); checks the halves agree.
  static Result<SigningKey> FromSecretBytes(ByteSpan secret);

  const PublicKey& public_key() const { return public_key_; }
  // A second copy of the key (in its own guarded memory), e.g. for a second signer.
  SigningKey Clone() const;

  // Signs the domain-separated message. Error only for an invalid chain id.
  Result<Signature> Sign(SigningDomain domain, std::string_view chain_id, ByteSpan payload) const;
  // Signs raw bytes with no domain separation: for known-answer tests only.
  Signature SignRaw(ByteSpan message) const;

  // libsodium's 64-byte secret key, for the key-file encoder.
  const SecretKey<64>& secret() const { return secret_; }

 private:
  SigningKey() = default;
  SecretKey<64> secret_;
  PublicKey public_key_;
};

// Verifies a signature made with SigningKey::Sign.
bool Verify(const PublicKey& key, SigningDomain domain, std::string_view chain_id, ByteSpan payload,
            const Signature& signature);
// Verifies a signature over raw bytes (known-answer tests, foreign formats).
bool VerifyRaw(const PublicKey& key, ByteSpan message, const Signature& signature);

// Interfaces through which pure modules (consensus, ledger) sign and verify, so that a large
// simulation can plug in a fast fake. The node plugs in the libsodium implementations below.
class Signer {
 public:
  virtual ~Signer() = default;
  virtual const PublicKey& public_key() const = 0;
  virtual Result<Signature> Sign(SigningDomain domain, std::string_view chain_id,
                                 ByteSpan payload) const = 0;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  virtual bool Verify(const PublicKey& key, SigningDomain domain, std::string_view chain_id,
                      ByteSpan payload, const Signature& signature) const = 0;
};

// Ed25519 via libsodium. The signer owns its key.
std::unique_ptr<Signer> MakeEd25519Signer(SigningKey key);
std::unique_ptr<Verifier> MakeEd25519Verifier();

// Remembers the last `capacity` successful verifications (by a BLAKE2b-256 of key, domain,
// chain id, payload and signature) and answers them without verifying again: a node checks each
// transaction's signature once when admitting it and would otherwise check it again when
// executing its block. Only successes are cached, so the answer is always the inner verifier's.
// Thread-safe.
std::unique_ptr<Verifier> MakeCachingVerifier(std::unique_ptr<Verifier> inner,
                                              std::size_t capacity);

}  // namespace ertr::crypto
