#include "net/handshake.h"

#include <algorithm>

#include "crypto/hash.h"

namespace ertr::net {

namespace {

constexpr std::string_view kMagic = "ERTRHS1";  // + NUL: 8 bytes

crypto::Digest ChainHash(std::string_view chain_id) {
  return crypto::DomainHash("ertr/hs/chain/v1", AsBytes(chain_id));
}

crypto::Digest Transcript2(ByteSpan hello, const crypto::BoxPublicKey& e_r,
                           const crypto::PublicKey& id_r) {
  Bytes data = crypto::DomainHash("ertr/hs/m1/v1", hello).ToBytes();
  Append(data, e_r.span());
  Append(data, id_r.span());
  return crypto::DomainHash("ertr/hs/t2/v1", data);
}

crypto::Digest Transcript3(const crypto::Digest& t2, const crypto::Signature& sig_r,
                           const crypto::PublicKey& id_i) {
  Bytes data = t2.ToBytes();
  Append(data, sig_r.span());
  Append(data, id_i.span());
  return crypto::DomainHash("ertr/hs/t3/v1", data);
}

crypto::Digest SessionTranscript(const crypto::Digest& t3, const crypto::Signature& sig_i) {
  Bytes data = t3.ToBytes();
  Append(data, sig_i.span());
  return crypto::DomainHash("ertr/hs/keys/v1", data);
}

Bytes RoleMessage(std::string_view role, const crypto::Digest& t) {
  Bytes m = ToBytes(role);
  Append(m, t.span());
  return m;
}

}  // namespace

HandshakeInitiator::HandshakeInitiator(std::string chain_id, const crypto::Signer& identity,
                                       crypto::PublicKey expected_peer,
                                       crypto::BoxKeyPair ephemeral)
    : chain_id_(std::move(chain_id)),
      identity_(identity),
      expected_peer_(expected_peer),
      ephemeral_(std::move(ephemeral)) {}

Bytes HandshakeInitiator::Hello() {
  hello_ = ToBytes(kMagic);
  hello_.push_back(0);
  hello_.push_back(kHandshakeVersion);
  Append(hello_, ChainHash(chain_id_).span());
  Append(hello_, ephemeral_.public_key().span());
  return hello_;
}

Result<Bytes> HandshakeInitiator::OnReply(ByteSpan reply) {
  if (hello_.empty() || done_) return Status::FailedPrecondition("handshake out of order");
  if (reply.size() != kReplySize) {
    return Status::InvalidArgument("handshake reply must be " + std::to_string(kReplySize) +
                                   " bytes, got " + std::to_string(reply.size()));
  }
  ERTR_ASSIGN_OR_RETURN(auto e_r,
                        crypto::BoxPublicKey::FromSpan(reply.subspan(0, 32), "reply.ephemeral"));
  ERTR_ASSIGN_OR_RETURN(auto id_r,
                        crypto::PublicKey::FromSpan(reply.subspan(32, 32), "reply.identity"));
  ERTR_ASSIGN_OR_RETURN(auto sig_r,
                        crypto::Signature::FromSpan(reply.subspan(64, 64), "reply.signature"));
  if (id_r != expected_peer_) {
    return Status::Unauthenticated("peer identifies as " + id_r.ShortHex() +
                                   "…, not the validator dialed (" + expected_peer_.ShortHex() +
                                   "…); check the peer's address in the config");
  }
  const crypto::Digest t2 = Transcript2(hello_, e_r, id_r);
  if (!crypto::Verify(id_r, crypto::SigningDomain::kHandshake, chain_id_,
                      RoleMessage("responder", t2), sig_r)) {
    return Status::Unauthenticated("peer " + id_r.ShortHex() +
                                   "… failed to prove its identity (bad handshake signature)");
  }
  const crypto::Digest t3 = Transcript3(t2, sig_r, identity_.public_key());
  ERTR_ASSIGN_OR_RETURN(auto sig_i, identity_.Sign(crypto::SigningDomain::kHandshake, chain_id_,
                                                   RoleMessage("initiator", t3)));
  ERTR_ASSIGN_OR_RETURN(
      auto keys, crypto::DeriveSessionKeys(ephemeral_, e_r, SessionTranscript(t3, sig_i), true));
  done_ = Established{id_r, std::move(keys)};
  Bytes confirm = identity_.public_key().ToBytes();
  Append(confirm, sig_i.span());
  return confirm;
}

Result<Established> HandshakeInitiator::Finish() {
  if (!done_) return Status::FailedPrecondition("handshake not complete");
  Established out = std::move(*done_);
  done_.reset();
  return out;
}

HandshakeResponder::HandshakeResponder(std::string chain_id, const crypto::Signer& identity,
                                       std::function<bool(const crypto::PublicKey&)> is_member,
                                       crypto::BoxKeyPair ephemeral)
    : chain_id_(std::move(chain_id)),
      identity_(identity),
      is_member_(std::move(is_member)),
      ephemeral_(std::move(ephemeral)) {}

Result<Bytes> HandshakeResponder::OnHello(ByteSpan hello) {
  if (replied_) return Status::FailedPrecondition("handshake out of order");
  if (hello.size() != kHelloSize || !std::equal(kMagic.begin(), kMagic.end(), hello.begin()) ||
      hello[7] != 0) {
    return Status::InvalidArgument("not an ertrchain handshake (bad magic or length)");
  }
  if (hello[8] != kHandshakeVersion) {
    return Status::InvalidArgument("peer speaks handshake version " + std::to_string(hello[8]) +
                                   ", this node " + std::to_string(kHandshakeVersion) +
                                   "; upgrade the older node");
  }
  if (!std::equal(hello.begin() + 9, hello.begin() + 41, ChainHash(chain_id_).data())) {
    return Status::InvalidArgument("peer is on another chain than '" + chain_id_ +
                                   "'; check its genesis");
  }
  ERTR_ASSIGN_OR_RETURN(auto e_i,
                        crypto::BoxPublicKey::FromSpan(hello.subspan(41, 32), "hello.ephemeral"));
  t2_ = Transcript2(hello, ephemeral_.public_key(), identity_.public_key());
  ERTR_ASSIGN_OR_RETURN(own_signature_, identity_.Sign(crypto::SigningDomain::kHandshake, chain_id_,
                                                       RoleMessage("responder", t2_)));
  peer_ephemeral_ = e_i;
  replied_ = true;
  Bytes reply = ephemeral_.public_key().ToBytes();
  Append(reply, identity_.public_key().span());
  Append(reply, own_signature_.span());
  return reply;
}

Result<Established> HandshakeResponder::OnConfirm(ByteSpan confirm) {
  if (!replied_ || finished_) return Status::FailedPrecondition("handshake out of order");
  finished_ = true;
  if (confirm.size() != kConfirmSize) {
    return Status::InvalidArgument("handshake confirmation must be " +
                                   std::to_string(kConfirmSize) + " bytes, got " +
                                   std::to_string(confirm.size()));
  }
  ERTR_ASSIGN_OR_RETURN(auto id_i,
                        crypto::PublicKey::FromSpan(confirm.subspan(0, 32), "confirm.identity"));
  ERTR_ASSIGN_OR_RETURN(auto sig_i,
                        crypto::Signature::FromSpan(confirm.subspan(32, 64), "confirm.signature"));
  const crypto::Digest t3 = Transcript3(t2_, own_signature_, id_i);
  if (!crypto::Verify(id_i, crypto::SigningDomain::kHandshake, chain_id_,
                      RoleMessage("initiator", t3), sig_i)) {
    return Status::Unauthenticated("peer " + id_i.ShortHex() +
                                   "… failed to prove its identity (bad handshake signature)");
  }
  if (id_i == identity_.public_key()) {
    return Status::PermissionDenied("peer uses this node's own identity; refused");
  }
  if (!is_member_(id_i)) {
    return Status::PermissionDenied("peer " + id_i.ShortHex() +
                                    "… is not a validator of this chain; refused");
  }
  ERTR_ASSIGN_OR_RETURN(auto keys, crypto::DeriveSessionKeys(ephemeral_, *peer_ephemeral_,
                                                             SessionTranscript(t3, sig_i), false));
  return Established{id_i, std::move(keys)};
}

}  // namespace ertr::net
