#include "crypto/session.h"

#include <sodium.h>

#include "crypto/chacha_poly.h"

namespace ertr::crypto {

static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kFrameTagSize);
static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);

namespace {

constexpr std::string_view kAssociatedData = "ertr/frame/v1";

ByteSpan AssociatedData() {
  return {reinterpret_cast<const std::uint8_t*>(kAssociatedData.data()), kAssociatedData.size()};
}

// XChaCha20-Poly1305-IETF (libsodium's crypto_aead_xchacha20poly1305_ietf) under the 24-byte nonce
// u64le(counter) || 16 zero bytes: ChaCha20-Poly1305 (RFC 8439) under the HChaCha20 subkey of the
// nonce's first 16 bytes and the 12-byte nonce 0^4 || its last 8 bytes, here all zero.
class FrameKey {
 public:
  FrameKey(const SecretKey<32>& key, std::uint64_t counter) {
    std::uint8_t in[crypto_core_hchacha20_INPUTBYTES] = {};
    for (int i = 0; i < 8; ++i) in[i] = static_cast<std::uint8_t>(counter >> (8 * i));
    crypto_core_hchacha20(subkey_, in, key.UnsafeBytes().data(), nullptr);
  }
  ~FrameKey() { sodium_memzero(subkey_, sizeof(subkey_)); }
  FrameKey(const FrameKey&) = delete;
  FrameKey& operator=(const FrameKey&) = delete;

  const std::uint8_t* subkey() const { return subkey_; }
  static const std::uint8_t* nonce() {
    static constexpr std::uint8_t kZeros[12] = {};
    return kZeros;
  }

 private:
  std::uint8_t subkey_[crypto_core_hchacha20_OUTPUTBYTES];
};

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

FrameSealer::FrameSealer(SecretKey<32> key)
    : key_(std::move(key)), engine_(std::make_unique<internal::ChaChaPoly>()) {}
FrameSealer::FrameSealer(FrameSealer&&) noexcept = default;
FrameSealer& FrameSealer::operator=(FrameSealer&&) noexcept = default;
FrameSealer::~FrameSealer() = default;

FrameOpener::FrameOpener(SecretKey<32> key)
    : key_(std::move(key)), engine_(std::make_unique<internal::ChaChaPoly>()) {}
FrameOpener::FrameOpener(FrameOpener&&) noexcept = default;
FrameOpener& FrameOpener::operator=(FrameOpener&&) noexcept = default;
FrameOpener::~FrameOpener() = default;

Result<Bytes> FrameSealer::Seal(ByteSpan plaintext, std::size_t reserve_front) {
  if (counter_ == UINT64_MAX) {
    return Status::ResourceExhausted("session frame counter exhausted; reconnect for new keys");
  }
  Bytes out(reserve_front + plaintext.size() + kFrameTagSize);
  FrameKey frame_key(key_, counter_++);
  engine_->AeadSeal(frame_key.subkey(), FrameKey::nonce(), AssociatedData(), plaintext,
                    out.data() + reserve_front);
  return out;
}

Result<Bytes> FrameOpener::Open(ByteSpan frame) {
  if (failed_) return Status::FailedPrecondition("session failed before; drop the connection");
  if (frame.size() < kFrameTagSize) {
    failed_ = true;
    return Status::InvalidArgument("encrypted frame shorter than its 16-byte tag");
  }
  Bytes out(frame.size() - kFrameTagSize);
  FrameKey frame_key(key_, counter_);
  if (!engine_->AeadOpen(frame_key.subkey(), FrameKey::nonce(), AssociatedData(), frame,
                         out.data())) {
    failed_ = true;
    return Status::Unauthenticated(
        "encrypted frame does not open: modified, replayed, reordered or not for this session");
  }
  ++counter_;
  return out;
}

}  // namespace ertr::crypto
