#pragma once

// The node-to-node handshake (docs/spec/wire.md section 2) as two small state machines with no
// I/O: the transport moves their messages. Station-to-station shaped: ephemeral X25519 keys,
// each side signs the transcript with its Ed25519 validator identity under a role label, and the
// session keys bind the whole transcript. Gives mutual authentication, forward secrecy, and
// resistance to replay (fresh ephemerals), reflection (role labels) and man-in-the-middle
// (signatures over both ephemerals); only chain members are admitted.
//
// Lifetime: the signer must outlive the state machine. Not thread-safe.

#include <functional>
#include <optional>
#include <string>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/box_key.h"
#include "crypto/session.h"
#include "crypto/signing.h"

namespace ertr::net {

inline constexpr std::uint8_t kHandshakeVersion = 1;
inline constexpr std::size_t kHelloSize = 8 + 1 + 32 + 32;  // magic, version, chain, ephemeral
inline constexpr std::size_t kReplySize = 32 + 32 + 64;     // ephemeral, identity, signature
inline constexpr std::size_t kConfirmSize = 32 + 64;        // identity, signature

struct Established {
  crypto::PublicKey peer;  // the peer's validator identity
  crypto::SessionKeys keys;
};

// The dialing side. Requires: Hello() once, then OnReply(), then Finish().
class HandshakeInitiator {
 public:
  // `expected_peer`: the identity of the validator we dialed; any other is refused.
  HandshakeInitiator(std::string chain_id, const crypto::Signer& identity,
                     crypto::PublicKey expected_peer,
                     crypto::BoxKeyPair ephemeral = crypto::BoxKeyPair::Generate());
  Bytes Hello();
  // Checks the responder's reply; returns our confirmation to send. Unauthenticated with the
  // reason if the peer is not who we dialed or its signature does not verify.
  Result<Bytes> OnReply(ByteSpan reply);
  // The session, after OnReply succeeded.
  Result<Established> Finish();

 private:
  std::string chain_id_;
  const crypto::Signer& identity_;
  crypto::PublicKey expected_peer_;
  crypto::BoxKeyPair ephemeral_;
  Bytes hello_;
  std::optional<Established> done_;
};

// The accepting side. Requires: OnHello(), then OnConfirm().
class HandshakeResponder {
 public:
  // `is_member`: whether an identity is a validator of the chain (the admission rule).
  HandshakeResponder(std::string chain_id, const crypto::Signer& identity,
                     std::function<bool(const crypto::PublicKey&)> is_member,
                     crypto::BoxKeyPair ephemeral = crypto::BoxKeyPair::Generate());
  // Checks the initiator's hello; returns our reply. InvalidArgument if it is not an ertrchain
  // hello, of another version, or for another chain.
  Result<Bytes> OnHello(ByteSpan hello);
  // Checks the confirmation; the established session, or Unauthenticated/PermissionDenied.
  Result<Established> OnConfirm(ByteSpan confirm);

 private:
  std::string chain_id_;
  const crypto::Signer& identity_;
  std::function<bool(const crypto::PublicKey&)> is_member_;
  crypto::BoxKeyPair ephemeral_;
  std::optional<crypto::BoxPublicKey> peer_ephemeral_;
  crypto::Digest t2_;
  crypto::Signature own_signature_;
  bool replied_ = false;
  bool finished_ = false;
};

}  // namespace ertr::net
