// Fuzz target: the streaming payload decryptor never crashes or over-reads on hostile
// ciphertext, fed in pieces whose sizes come from the input; and key envelopes (sealed data keys
// other institutions put on chain) never crash OpenEnvelope.
#include "crypto/box_key.h"
#include "crypto/envelope.h"
#include "crypto/init.h"
#include "crypto/payload_cipher.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static bool init = ertr::crypto::Init().ok();
  (void)init;
  if (size < 1) return 0;
  static const auto recipient = ertr::crypto::BoxKeyPair::Generate();
  (void)ertr::crypto::OpenEnvelope(ertr::ByteSpan(data, size), recipient);
  static ertr::crypto::DataKey key;  // all-zero key: a fixed key the corpus can target
  ertr::crypto::PayloadDecryptor dec(key);
  ertr::Bytes out;
  std::size_t step = data[0] % 64 + 1;
  ertr::ByteSpan in(data + 1, size - 1);
  for (std::size_t off = 0; off < in.size(); off += step) {
    if (!dec.Update(in.subspan(off, std::min(step, in.size() - off)), out).ok()) return 0;
    out.clear();
  }
  (void)dec.Finish(out);
  return 0;
}
