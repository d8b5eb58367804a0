#include "crypto/box_key.h"

#include <sodium.h>

namespace ertr::crypto {

static_assert(crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32);
static_assert(crypto_scalarmult_BYTES == 32 && crypto_scalarmult_SCALARBYTES == 32);

BoxKeyPair BoxKeyPair::Generate() {
  BoxKeyPair k;
  std::array<std::uint8_t, 32> pk{};
  crypto_box_keypair(pk.data(), k.secret_.MutableBytes().data());
  k.public_key_ = BoxPublicKey(pk);
  return k;
}

Result<BoxKeyPair> BoxKeyPair::FromSecretBytes(ByteSpan secret) {
  if (secret.size() != 32) {
    return Status::InvalidArgument("X25519 secret key must be 32 bytes, got " +
                                   std::to_string(secret.size()));
  }
  BoxKeyPair k;
  std::copy(secret.begin(), secret.end(), k.secret_.MutableBytes().begin());
  std::array<std::uint8_t, 32> pk{};
  crypto_scalarmult_base(pk.data(), k.secret_.UnsafeBytes().data());
  k.public_key_ = BoxPublicKey(pk);
  return k;
}

Result<SecretKey<32>> X25519(const SecretKey<32>& secret, const BoxPublicKey& peer) {
  SecretKey<32> out;
  if (crypto_scalarmult(out.MutableBytes().data(), secret.UnsafeBytes().data(), peer.data()) != 0) {
    return Status::InvalidArgument(
        "X25519 with this peer key gives the all-zero point "
        "(low-order public key); refuse it");
  }
  return out;
}

}  // namespace ertr::crypto
