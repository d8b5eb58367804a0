#include "crypto/init.h"

#include <sodium.h>

namespace ertr::crypto {

Status Init() {
  if (sodium_init() < 0) {
    return Status::Internal("libsodium failed to initialise (no usable random source?)");
  }
  return Status::Ok();
}

}  // namespace ertr::crypto
