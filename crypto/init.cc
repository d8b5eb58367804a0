#include "crypto/init.h"

#include <sodium.h>

#include "crypto/chacha_poly.h"

namespace ertr::crypto {

Status Init() {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise (no usable random source?)");
  }
  return Status::Ok();
}

bool BulkCiphersOnLibcrypto() { return internal::LibcryptoAvailable(); }

}  // namespace ertr::crypto
