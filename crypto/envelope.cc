#include "crypto/envelope.h"

#include <sodium.h>

namespace ertr::crypto {

static_assert(crypto_box_SEALBYTES == 48);

Bytes SealDataKey(const DataKey& key, const BoxPublicKey& recipient) {
  Bytes out(kEnvelopeSize);
  crypto_box_seal(out.data(), key.UnsafeBytes().data(), DataKey::kSize, recipient.data());
  return out;
}

Result<DataKey> OpenEnvelope(ByteSpan envelope, const BoxKeyPair& recipient) {
  if (envelope.size() != kEnvelopeSize) {
    return Status::InvalidArgument("key envelope must be " + std::to_string(kEnvelopeSize) +
                                   " bytes, got " + std::to_string(envelope.size()));
  }
  DataKey key;
  if (crypto_box_seal_open(key.MutableBytes().data(), envelope.data(), envelope.size(),
                           recipient.public_key().data(),
                           recipient.secret().UnsafeBytes().data()) != 0) {
    return Status::Unauthenticated(
        "key envelope does not open with this institution's key: it was sealed to another "
        "institution or has been modified");
  }
  return key;
}

}  // namespace ertr::crypto
