#pragma once

// Authentication of API calls (docs/api.md section 1): the caller signs each request with its
// Ed25519 user key, a timestamp and a fresh nonce; the node checks the signature, the clock skew
// and that the nonce was not seen inside the replay window. Shared by ertrd and ertrctl.

#include <algorithm>
#include <array>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/signing.h"

namespace ertr::proto {

inline constexpr const char* kHeaderUserKey = "ertr-user-key";
inline constexpr const char* kHeaderTimestamp = "ertr-timestamp-ms";
inline constexpr const char* kHeaderNonce = "ertr-nonce";
inline constexpr const char* kHeaderSignature = "ertr-signature";
// A request's timestamp must be within this much of the node's clock, either way.
inline constexpr std::uint64_t kApiReplayWindowMs = 5 * 60 * 1000;

struct ApiAuth {
  crypto::PublicKey user;
  std::uint64_t timestamp_ms = 0;
  std::array<std::uint8_t, 16> nonce{};
  crypto::Signature signature;
};

// The payload signed in SigningDomain::kApiRequest:
//   u8(len(method)) || method || u64le(timestamp_ms) || nonce || BLAKE2b-256(request)
Result<Bytes> ApiRequestPayload(std::string_view method, std::uint64_t timestamp_ms, ByteSpan nonce,
                                ByteSpan request);

// Signs a request with a fresh random nonce.
Result<ApiAuth> SignApiRequest(const crypto::Signer& signer, std::string_view chain_id,
                               std::string_view method, std::uint64_t timestamp_ms,
                               ByteSpan request);

// The four header values, and back. Parse errors name the header and say what to send.
std::map<std::string, std::string> ApiAuthHeaders(const ApiAuth& auth);
Result<ApiAuth> ParseApiAuthHeaders(const std::map<std::string, std::string>& headers);

// Checks the signature and the clock skew (Unauthenticated, saying which).
Status VerifyApiRequest(const crypto::Verifier& verifier, std::string_view chain_id,
                        std::string_view method, const ApiAuth& auth, ByteSpan request,
                        std::uint64_t now_ms);

// Nonces seen inside the replay window. Thread-safety: none (the caller serialises).
//
// Bounded twice: in all (its memory), and per user, so that one user's flood of calls (a runaway
// integrator, or a stolen key) fills at most a share of it and the others' calls still pass.
class ReplayGuard {
 public:
  explicit ReplayGuard(std::size_t max_entries = 1u << 20)
      : ReplayGuard(max_entries, std::max<std::size_t>(1, max_entries / 4)) {}
  ReplayGuard(std::size_t max_entries, std::size_t max_per_user)
      : max_entries_(max_entries), max_per_user_(std::max<std::size_t>(1, max_per_user)) {}
  // Unauthenticated if (user, nonce) was seen within the window; ResourceExhausted if the guard,
  // or this user's share of it, is full of live entries. Records it otherwise.
  Status Check(const ApiAuth& auth, std::uint64_t now_ms);
  std::size_t size() const { return seen_.size(); }

 private:
  using Entry = std::pair<crypto::PublicKey, std::array<std::uint8_t, 16>>;
  std::size_t max_entries_;
  std::size_t max_per_user_;
  std::uint64_t latest_now_ = 0;  // the newest clock reading seen: pruning follows it
  std::set<Entry> seen_;
  std::multimap<std::uint64_t, Entry> by_expiry_;
  std::map<crypto::PublicKey, std::size_t> per_user_;  // entries of seen_ per user
};

}  // namespace ertr::proto
