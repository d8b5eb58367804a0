#pragma once

#include "common/status.h"

namespace ertr::crypto {

// Initialises libsodium. Call once at startup before any other crypto function (safe to call
// again; later calls are no-ops). Fails only if the platform has no usable random source.
Status Init();

// Whether payload chunks and link frames of 16 KiB and more are computed with libcrypto's ChaCha20
// and Poly1305 (ADR 0028). False where libcrypto's configuration offers neither (a provider set
// without them, such as a FIPS-only one): libsodium then computes them, with the same bytes, at
// its speed. ertrd logs it at start. (Defined with the ciphers, in chacha_poly.cc.)
bool BulkCiphersOnLibcrypto();

}  // namespace ertr::crypto
