#include "crypto/signing.h"

#include <sodium.h>

#include <deque>
#include <mutex>
#include <utility>

#include "crypto/digest_table.h"
#include "crypto/hash.h"

namespace ertr::crypto {

static_assert(crypto_sign_PUBLICKEYBYTES == PublicKey::kSize);
static_assert(crypto_sign_BYTES == Signature::kSize);
static_assert(crypto_sign_SECRETKEYBYTES == 64);
static_assert(crypto_sign_SEEDBYTES == 32);

std::string_view SigningDomainTag(SigningDomain domain) {
  switch (domain) {
    case SigningDomain::kTransaction:
      return "ertr/tx/v1";
    case SigningDomain::kPrePrepare:
      return "ertr/pre-prepare/v1";
    case SigningDomain::kPrepare:
      return "ertr/prepare/v1";
    case SigningDomain::kCommit:
      return "ertr/commit/v1";
    case SigningDomain::kCheckpoint:
      return "ertr/checkpoint/v1";
    case SigningDomain::kViewChange:
      return "ertr/view-change/v1";
    case SigningDomain::kNewView:
      return "ertr/new-view/v1";
    case SigningDomain::kHandshake:
      return "ertr/handshake/v1";
    case SigningDomain::kApiRequest:
      return "ertr/api-request/v1";
    case SigningDomain::kConsent:
      return "ertr/consent/v1";
  }
  return "ertr/unknown";
}

Result<Bytes> SignedMessage(SigningDomain domain, std::string_view chain_id, ByteSpan payload) {
  if (chain_id.empty() || chain_id.size() > kMaxChainIdLength) {
    return Status::InvalidArgument("chain id must be 1.." + std::to_string(kMaxChainIdLength) +
                                   " bytes, got " + std::to_string(chain_id.size()));
  }
  std::string_view tag = SigningDomainTag(domain);
  Bytes msg;
  msg.reserve(tag.size() + 2 + chain_id.size() + payload.size());
  Append(msg, AsBytes(tag));
  PutU8(msg, 0);
  PutU8(msg, static_cast<std::uint8_t>(chain_id.size()));
  Append(msg, AsBytes(chain_id));
  Append(msg, payload);
  return msg;
}

SigningKey SigningKey::Generate() {
  SigningKey k;
  std::array<std::uint8_t, 32> pk{};
  crypto_sign_keypair(pk.data(), k.secret_.MutableBytes().data());
  k.public_key_ = PublicKey(pk);
  return k;
}

Result<SigningKey> SigningKey::FromSeed(ByteSpan seed) {
  if (seed.size() != crypto_sign_SEEDBYTES) {
    return Status::InvalidArgument("Ed25519 seed must be 32 bytes, got " +
                                   std::to_string(seed.size()));
  }
  SigningKey k;
  std::array<std::uint8_t, 32> pk{};
  crypto_sign_seed_keypair(pk.data(), k.secret_.MutableBytes().data(), seed.data());
  k.public_key_ = PublicKey(pk);
  return k;
}

SigningKey SigningKey::Clone() const {
  SigningKey k;
  const auto src = secret_.UnsafeBytes();
  std::copy(src.begin(), src.end(), k.secret_.MutableBytes().begin());
  k.public_key_ = public_key_;
  return k;
}

Result<SigningKey> SigningKey::FromSecretBytes(ByteSpan secret) {
  if (secret.size() != crypto_sign_SECRETKEYBYTES) {
    return Status::InvalidArgument("Ed25519 secret key must be 64 bytes, got " +
                                   std::to_string(secret.size()));
  }
  ERTR_ASSIGN_OR_RETURN(SigningKey k, FromSeed(secret.first(32)));
  if (!ConstantTimeEqual(k.public_key_.span(), secret.subspan(32))) {
    return Status::DataLoss(
        "Ed25519 secret key is inconsistent: its public half does not match its seed");
  }
  return k;
}

Result<Signature> SigningKey::Sign(SigningDomain domain, std::string_view chain_id,
                                   ByteSpan payload) const {
  ERTR_ASSIGN_OR_RETURN(Bytes msg, SignedMessage(domain, chain_id, payload));
  return SignRaw(msg);
}

Signature SigningKey::SignRaw(ByteSpan message) const {
  std::array<std::uint8_t, 64> sig{};
  crypto_sign_detached(sig.data(), nullptr, message.data(), message.size(),
                       secret_.UnsafeBytes().data());
  return Signature(sig);
}

bool VerifyRaw(const PublicKey& key, ByteSpan message, const Signature& signature) {
  return crypto_sign_verify_detached(signature.data(), message.data(), message.size(),
                                     key.data()) == 0;
}

bool Verify(const PublicKey& key, SigningDomain domain, std::string_view chain_id, ByteSpan payload,
            const Signature& signature) {
  auto msg = SignedMessage(domain, chain_id, payload);
  return msg.has_value() && VerifyRaw(key, *msg, signature);
}

namespace {

class Ed25519Signer final : public Signer {
 public:
  explicit Ed25519Signer(SigningKey key) : key_(std::move(key)) {}
  const PublicKey& public_key() const override { return key_.public_key(); }
  Result<Signature> Sign(SigningDomain domain, std::string_view chain_id,
                         ByteSpan payload) const override {
    return key_.Sign(domain, chain_id, payload);
  }

 private:
  SigningKey key_;
};

class Ed25519Verifier final : public Verifier {
 public:
  bool Verify(const PublicKey& key, SigningDomain domain, std::string_view chain_id,
              ByteSpan payload, const Signature& signature) const override {
    return crypto::Verify(key, domain, chain_id, payload, signature);
  }
};

class CachingVerifier final : public Verifier {
 public:
  CachingVerifier(std::unique_ptr<Verifier> inner, std::size_t capacity)
      : inner_(std::move(inner)), capacity_(capacity) {}
  bool Verify(const PublicKey& key, SigningDomain domain, std::string_view chain_id,
              ByteSpan payload, const Signature& signature) const override {
    auto msg = SignedMessage(domain, chain_id, payload);
    if (!msg) return false;
    Hasher h;
    h.Update(key.span());
    h.Update(signature.span());
    h.Update(*msg);
    const Digest id = h.Finish();
    {
      std::lock_guard lock(mu_);
      if (seen_.count(id)) return true;
    }
    if (!inner_->Verify(key, domain, chain_id, payload, signature)) return false;
    std::lock_guard lock(mu_);
    if (seen_.insert(id).second) {
      order_.push_back(id);
      if (order_.size() > capacity_) {
        seen_.erase(order_.front());
        order_.pop_front();
      }
    }
    return true;
  }

 private:
  std::unique_ptr<Verifier> inner_;
  std::size_t capacity_;
  mutable std::mutex mu_;
  mutable DigestSet seen_;
  mutable std::deque<Digest> order_;
};

}  // namespace

std::unique_ptr<Verifier> MakeCachingVerifier(std::unique_ptr<Verifier> inner,
                                              std::size_t capacity) {
  return std::make_unique<CachingVerifier>(std::move(inner), capacity);
}

std::unique_ptr<Signer> MakeEd25519Signer(SigningKey key) {
  return std::make_unique<Ed25519Signer>(std::move(key));
}
std::unique_ptr<Verifier> MakeEd25519Verifier() { return std::make_unique<Ed25519Verifier>(); }

}  // namespace ertr::crypto
