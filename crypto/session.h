#pragma once

// Session encryption of node-to-node connections (docs/spec/wire.md section 3): keys derived from
// an ephemeral X25519 exchange bound to the handshake transcript, and XChaCha20-Poly1305 frames
// whose nonces are per-direction counters, so a nonce never repeats under a key and a replayed,
// dropped, reordered or reflected frame fails to open.

#include <cstdint>
#include <memory>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/box_key.h"
#include "crypto/hash.h"
#include "crypto/secret_key.h"

namespace ertr::crypto {

namespace internal {
class ChaChaPoly;
}

inline constexpr std::size_t kFrameTagSize = 16;  // Poly1305 tag added to every frame

struct SessionKeys {
  SecretKey<32> send;
  SecretKey<32> receive;
};

// Keys of one side: k_i2r and k_r2i are keyed BLAKE2b-256 of the transcript under X25519(own
// ephemeral, peer ephemeral), with distinct labels; the initiator sends with k_i2r, the responder
// with k_r2i. Unauthenticated if the peer's ephemeral key is of low order.
Result<SessionKeys> DeriveSessionKeys(const BoxKeyPair& own_ephemeral,
                                      const BoxPublicKey& peer_ephemeral, const Digest& transcript,
                                      bool initiator);

// Seals the frames of one direction. Move-only; the key is zeroed with it.
class FrameSealer {
 public:
  explicit FrameSealer(SecretKey<32> key);
  FrameSealer(FrameSealer&&) noexcept;
  FrameSealer& operator=(FrameSealer&&) noexcept;
  ~FrameSealer();
  // plaintext -> ciphertext || tag, under nonce = u64le(counter) || 16 zero bytes; the counter
  // then increments. ResourceExhausted after 2^64 - 1 frames (reconnect for new keys).
  // `reserve_front` zero bytes precede the ciphertext (room for the caller's frame header, so the
  // sealed frame is not copied again).
  Result<Bytes> Seal(ByteSpan plaintext, std::size_t reserve_front = 0);
  std::uint64_t frames() const { return counter_; }

 private:
  SecretKey<32> key_;
  std::unique_ptr<internal::ChaChaPoly> engine_;
  std::uint64_t counter_ = 0;
};

// Opens the frames of one direction, in order. After a failure the opener is unusable: the
// connection must be dropped.
class FrameOpener {
 public:
  explicit FrameOpener(SecretKey<32> key);
  FrameOpener(FrameOpener&&) noexcept;
  FrameOpener& operator=(FrameOpener&&) noexcept;
  ~FrameOpener();
  Result<Bytes> Open(ByteSpan frame);

 private:
  SecretKey<32> key_;
  std::unique_ptr<internal::ChaChaPoly> engine_;
  std::uint64_t counter_ = 0;
  bool failed_ = false;
};

}  // namespace ertr::crypto
