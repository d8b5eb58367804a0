#pragma once

// Key envelopes: a record's 32-byte data key sealed to one institution's X25519 public key with
// libsodium's crypto_box_seal (ephemeral X25519 + XSalsa20-Poly1305, docs/spec/crypto.md
// section 5). An envelope is 80 bytes; only the holder of the institution's secret key opens it.

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/box_key.h"
#include "crypto/payload_cipher.h"

namespace ertr::crypto {

inline constexpr std::size_t kEnvelopeSize = 32 + 48;

// Seals the data key to the recipient.
Bytes SealDataKey(const DataKey& key, const BoxPublicKey& recipient);

// Opens an envelope with the recipient's key pair. Unauthenticated error if it was not sealed to
// this key or was modified; InvalidArgument if it has the wrong size.
Result<DataKey> OpenEnvelope(ByteSpan envelope, const BoxKeyPair& recipient);

}  // namespace ertr::crypto
