// Fuzz target: bytes from a peer, whatever they are, never crash the frame reader, the handshake
// or the frame opener; the reader never holds more than one frame plus what was fed.
#include <cstdlib>

#include "crypto/init.h"
#include "net/frame.h"
#include "net/handshake.h"

namespace {

struct Fixture {
  bool initialised = ertr::crypto::Init().ok();  // before any guarded allocation
  std::unique_ptr<ertr::crypto::Signer> self =
      ertr::crypto::MakeEd25519Signer(*ertr::crypto::SigningKey::FromSeed(ertr::Bytes(32, 1)));
  std::unique_ptr<ertr::crypto::Signer> peer =
      ertr::crypto::MakeEd25519Signer(*ertr::crypto::SigningKey::FromSeed(ertr::Bytes(32, 2)));
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ertr;
  static Fixture fx;
  ByteSpan in(data, size);
  // 1. Framing, fed in pieces whose sizes come from the input itself.
  net::FrameReader reader(4096);
  for (std::size_t pos = 0; pos < size;) {
    std::size_t n = 1 + (data[pos] % 64);
    n = std::min(n, size - pos);
    reader.Feed(in.subspan(pos, n));
    pos += n;
    while (true) {
      auto f = reader.Next();
      if (!f || !*f) break;
      if ((*f)->empty() || (*f)->size() > 4096) std::abort();
    }
    if (reader.buffered() > 4096 + net::kFrameHeaderSize + 64) std::abort();
  }
  // 2. The responder facing a hostile hello and confirmation.
  auto member = [&](const crypto::PublicKey& k) { return k == fx.peer->public_key(); };
  net::HandshakeResponder resp("ertr-fuzz", *fx.self, member);
  if (resp.OnHello(in.subspan(0, std::min(size, net::kHelloSize))).has_value()) {
    (void)resp.OnConfirm(in.subspan(std::min(size, net::kHelloSize)));
  }
  // 3. The initiator facing a hostile reply.
  net::HandshakeInitiator init("ertr-fuzz", *fx.self, fx.peer->public_key());
  init.Hello();
  (void)init.OnReply(in);
  // 4. An encrypted frame opener facing hostile frames.
  crypto::SecretKey<32> key;
  crypto::FrameOpener opener(std::move(key));
  (void)opener.Open(in);
  return 0;
}
