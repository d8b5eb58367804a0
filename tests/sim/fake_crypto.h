#pragma once

// Fast stand-ins for Ed25519 in large simulations (STYLE.md rule 1.5): a "signature" is a keyed
// BLAKE2b-512 MAC of the signed message under a per-replica secret. Replicas cannot forge each
// other's signatures (a Byzantine wrapper holds only its own signer), and verification is cheap.

#include <map>
#include <memory>

#include "crypto/hash.h"
#include "crypto/signing.h"

namespace ertr::sim {

class FakeKeys {
 public:
  // The public key of replica i is BLAKE2b-256("fake-pk" || secret_i).
  crypto::PublicKey Add(const std::array<std::uint8_t, 32>& secret) {
    auto pk = crypto::PublicKey(crypto::DomainHash("fake-pk", secret).array());
    secrets_[pk] = secret;
    return pk;
  }
  crypto::Signature Mac(const crypto::PublicKey& pk, crypto::SigningDomain d,
                        std::string_view chain, ByteSpan payload) const {
    auto it = secrets_.find(pk);
    std::array<std::uint8_t, 64> out{};
    if (it == secrets_.end()) return crypto::Signature(out);
    auto msg = crypto::SignedMessage(d, chain, payload);
    crypto::Hasher h(it->second, 64);
    h.Update(msg.has_value() ? ByteSpan(*msg) : ByteSpan());
    h.FinishInto(out);
    return crypto::Signature(out);
  }

 private:
  std::map<crypto::PublicKey, std::array<std::uint8_t, 32>> secrets_;
};

class FakeSigner final : public crypto::Signer {
 public:
  FakeSigner(const FakeKeys& keys, crypto::PublicKey pk) : keys_(keys), pk_(pk) {}
  const crypto::PublicKey& public_key() const override { return pk_; }
  Result<crypto::Signature> Sign(crypto::SigningDomain d, std::string_view chain,
                                 ByteSpan payload) const override {
    return keys_.Mac(pk_, d, chain, payload);
  }

 private:
  const FakeKeys& keys_;
  crypto::PublicKey pk_;
};

class FakeVerifier final : public crypto::Verifier {
 public:
  explicit FakeVerifier(const FakeKeys& keys) : keys_(keys) {}
  bool Verify(const crypto::PublicKey& pk, crypto::SigningDomain d, std::string_view chain,
              ByteSpan payload, const crypto::Signature& sig) const override {
    return keys_.Mac(pk, d, chain, payload) == sig;
  }

 private:
  const FakeKeys& keys_;
};

}  // namespace ertr::sim

namespace ertr::sim {

// Decorators that count signing and verification, for the consensus benchmark's cost figures.
class CountingSigner final : public crypto::Signer {
 public:
  explicit CountingSigner(std::unique_ptr<crypto::Signer> inner) : inner_(std::move(inner)) {}
  const crypto::PublicKey& public_key() const override { return inner_->public_key(); }
  Result<crypto::Signature> Sign(crypto::SigningDomain d, std::string_view chain,
                                 ByteSpan payload) const override {
    ++count_;
    return inner_->Sign(d, chain, payload);
  }
  std::uint64_t count() const { return count_; }

 private:
  std::unique_ptr<crypto::Signer> inner_;
  mutable std::uint64_t count_ = 0;
};

class CountingVerifier final : public crypto::Verifier {
 public:
  explicit CountingVerifier(const crypto::Verifier& inner) : inner_(inner) {}
  bool Verify(const crypto::PublicKey& pk, crypto::SigningDomain d, std::string_view chain,
              ByteSpan payload, const crypto::Signature& sig) const override {
    ++count_;
    return inner_.Verify(pk, d, chain, payload, sig);
  }
  std::uint64_t count() const { return count_; }

 private:
  const crypto::Verifier& inner_;
  mutable std::uint64_t count_ = 0;
};

}  // namespace ertr::sim
