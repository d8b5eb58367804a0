#include "crypto/session.h"

#include <sodium.h>

#include <array>

namespace ertr::crypto {

static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kFrameTagSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);

namespace {

constexpr std::string_view kAssociatedData = "ertr/frame/v1";

std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> Nonce(std::uint64_t n) {
  std::array<std::uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES> nonce{};
  for (int i = 0; i < 8; ++i)
    nonce[static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(n >> (8 * i));
  return nonce;
}

SecretKey<32> Derive(const SecretKey<32>& shared, std::string_view label,
                     const Digest& transcript) {
  SecretKey<32> out;
  Hasher h(shared.UnsafeBytes(), 32);
  h.Update(label).Update(transcript.span());
  h.FinishInto(out.MutableBytes());
  return out;
}

}  // namespace

Result<SessionKeys> DeriveSessionKeys(const BoxKeyPair& own_ephemeral,
                                      const BoxPublicKey& peer_ephemeral, const Digest& transcript,
                                      bool initiator) {
  auto shared = X25519(own_ephemeral.secret(), peer_ephemeral);
  if (!shared) {
    return Status::Unauthenticated("handshake: the peer's ephemeral key is of low order");
  }
  SecretKey<32> i2r = Derive(*shared, "ertr/session/i2r/v1", transcript);
  SecretKey<32> r2i = Derive(*shared, "ertr/session/r2i/v1", transcript);
  if (initiator) return SessionKeys{std::move(i2r), std::move(r2i)};
  return SessionKeys{std::move(r2i), std::move(i2r)};
}

Result<Bytes> FrameSealer::Seal(ByteSpan plaintext, std::size_t reserve_front) {
  if (counter_ == UINT64_MAX) {
    return Status::ResourceExhausted("session frame counter exhausted; reconnect for new keys");
  }
  Bytes out(reserve_front + plaintext.size() + kFrameTagSize);
  unsigned long long len = 0;
  auto nonce = Nonce(counter_++);
  crypto_aead_xchacha20poly1305_ietf_encrypt(
      out.data() + reserve_front, &len, plaintext.data(), plaintext.size(),
      reinterpret_cast<const unsigned char*>(kAssociatedData.data()), kAssociatedData.size(),
      nullptr, nonce.data(), key_.UnsafeBytes().data());
  out.resize(reserve_front + static_cast<std::size_t>(len));
  return out;
}

Result<Bytes> FrameOpener::Open(ByteSpan frame) {
  if (failed_) return Status::FailedPrecondition("session failed before; drop the connection");
  if (frame.size() < kFrameTagSize) {
    failed_ = true;
    return Status::InvalidArgument("encrypted frame shorter than its 16-byte tag");
  }
  Bytes out(frame.size() - kFrameTagSize);
  unsigned long long len = 0;
  auto nonce = Nonce(counter_);
  if (crypto_aead_xchacha20poly1305_ietf_decrypt(
          out.data(), &len, nullptr, frame.data(), frame.size(),
          reinterpret_cast<const unsigned char*>(kAssociatedData.data()), kAssociatedData.size(),
          nonce.data(), key_.UnsafeBytes().data()) != 0) {
    failed_ = true;
    return Status::Unauthenticated(
        "encrypted frame does not open: modified, replayed, reordered or not for this session");
  }
  ++counter_;
  out.resize(static_cast<std::size_t>(len));
  return out;
}

}  // namespace ertr::crypto
