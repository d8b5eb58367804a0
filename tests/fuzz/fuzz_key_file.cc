// Fuzz target: key file parsing never crashes. Decoding with a passphrase runs only for inputs
// whose header asks for the minimum KDF cost, so the fuzzer is not slowed by Argon2.
#include "crypto/init.h"
#include "crypto/key_file.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bool init = ertr::crypto::Init().ok();
  (void)init;
  ertr::ByteSpan in(data, size);
  auto info = ertr::crypto::InspectKeyFile(in);
  if (info && info->cost.opslimit == 1 && info->cost.memlimit <= 64 * 1024) {
    (void)ertr::crypto::DecodeKeyFile(in, "fuzz");
  }
  return 0;
}
