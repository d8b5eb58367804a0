#include "proto/api_auth.h"

#include "crypto/hash.h"
#include "crypto/secure_buffer.h"

namespace ertr::proto {

namespace {

void PutU64(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}

Result<std::string> Header(const std::map<std::string, std::string>& headers, const char* name) {
  auto it = headers.find(name);
  if (it == headers.end() || it->second.empty()) {
    return Status::Unauthenticated(std::string("the call has no '") + name +
                                   "' metadata header; sign every call with your user key "
                                   "(docs/api.md section 1)");
  }
  return it->second;
}

}  // namespace

Result<Bytes> ApiRequestPayload(std::string_view method, std::uint64_t timestamp_ms, ByteSpan nonce,
                                ByteSpan request) {
  if (method.empty() || method.size() > 255) {
    return Status::InvalidArgument("API method name must be 1..255 bytes");
  }
  if (nonce.size() != 16) return Status::InvalidArgument("API nonce must be 16 bytes");
  Bytes out;
  out.reserve(1 + method.size() + 8 + 16 + 32);
  out.push_back(static_cast<std::uint8_t>(method.size()));
  out.insert(out.end(), method.begin(), method.end());
  PutU64(out, timestamp_ms);
  out.insert(out.end(), nonce.begin(), nonce.end());
  const auto digest = crypto::Hash(request);
  out.insert(out.end(), digest.span().begin(), digest.span().end());
  return out;
}

Result<ApiAuth> SignApiRequest(const crypto::Signer& signer, std::string_view chain_id,
                               std::string_view method, std::uint64_t timestamp_ms,
                               ByteSpan request) {
  ApiAuth auth;
  auth.user = signer.public_key();
  auth.timestamp_ms = timestamp_ms;
  crypto::RandomBytes(auth.nonce);
  ERTR_ASSIGN_OR_RETURN(Bytes payload,
                        ApiRequestPayload(method, timestamp_ms, auth.nonce, request));
  ERTR_ASSIGN_OR_RETURN(auth.signature,
                        signer.Sign(crypto::SigningDomain::kApiRequest, chain_id, payload));
  return auth;
}

std::map<std::string, std::string> ApiAuthHeaders(const ApiAuth& auth) {
  return {{kHeaderUserKey, auth.user.ToHex()},
          {kHeaderTimestamp, std::to_string(auth.timestamp_ms)},
          {kHeaderNonce, ToHex(auth.nonce)},
          {kHeaderSignature, auth.signature.ToHex()}};
}

Result<ApiAuth> ParseApiAuthHeaders(const std::map<std::string, std::string>& headers) {
  ApiAuth auth;
  ERTR_ASSIGN_OR_RETURN(auto user, Header(headers, kHeaderUserKey));
  auto key = crypto::PublicKey::FromHex(user, kHeaderUserKey);
  if (!key) return Status::Unauthenticated(key.error().message());
  auth.user = *key;
  ERTR_ASSIGN_OR_RETURN(auto ts, Header(headers, kHeaderTimestamp));
  if (ts.size() > 19 || ts.find_first_not_of("0123456789") != std::string::npos) {
    return Status::Unauthenticated(std::string("metadata header '") + kHeaderTimestamp +
                                   "' must be Unix milliseconds in decimal");
  }
  auth.timestamp_ms = std::stoull(ts);
  ERTR_ASSIGN_OR_RETURN(auto nonce_hex, Header(headers, kHeaderNonce));
  auto nonce = FromHex(nonce_hex);
  if (!nonce || nonce->size() != 16) {
    return Status::Unauthenticated(std::string("metadata header '") + kHeaderNonce +
                                   "' must be 16 random bytes in hex (32 characters)");
  }
  std::copy(nonce->begin(), nonce->end(), auth.nonce.begin());
  ERTR_ASSIGN_OR_RETURN(auto sig_hex, Header(headers, kHeaderSignature));
  auto sig = crypto::Signature::FromHex(sig_hex, kHeaderSignature);
  if (!sig) return Status::Unauthenticated(sig.error().message());
  auth.signature = *sig;
  return auth;
}

Status VerifyApiRequest(const crypto::Verifier& verifier, std::string_view chain_id,
                        std::string_view method, const ApiAuth& auth, ByteSpan request,
                        std::uint64_t now_ms) {
  const std::uint64_t skew =
      auth.timestamp_ms > now_ms ? auth.timestamp_ms - now_ms : now_ms - auth.timestamp_ms;
  if (skew > kApiReplayWindowMs) {
    return Status::Unauthenticated("the request's timestamp is " + std::to_string(skew / 1000) +
                                   " s away from the node's clock (at most " +
                                   std::to_string(kApiReplayWindowMs / 1000) +
                                   " s allowed); check the client's clock");
  }
  ERTR_ASSIGN_OR_RETURN(Bytes payload,
                        ApiRequestPayload(method, auth.timestamp_ms, auth.nonce, request));
  if (!verifier.Verify(auth.user, crypto::SigningDomain::kApiRequest, chain_id, payload,
                       auth.signature)) {
    return Status::Unauthenticated(
        "the request signature does not verify for key " + auth.user.ShortHex() +
        "…; sign method, timestamp, nonce and the request bytes for this node's chain '" +
        std::string(chain_id) +
        "' (a client given another network's genesis or chain id fails here: check "
        "--genesis or --chain-id; docs/api.md section 1)");
  }
  return Status::Ok();
}

Status ReplayGuard::Check(const ApiAuth& auth, std::uint64_t now_ms) {
  // Callers read their clocks before taking the lock: judge by the newest reading, so that an
  // entry already forgotten is never accepted again.
  const std::uint64_t own_now_ms = now_ms;
  latest_now_ = std::max(latest_now_, now_ms);
  now_ms = latest_now_;
  if (auth.timestamp_ms + kApiReplayWindowMs < now_ms) {
    // (A caller's clock reading can trail the latest by a few ms: only a second or more is a
    // step back.)
    if (now_ms - own_now_ms >= 1000 && auth.timestamp_ms + kApiReplayWindowMs >= own_now_ms) {
      // In the window of this node's clock now, but not of a later reading it gave before: the
      // clock was stepped back. Requests forgotten since that reading could be replayed if
      // judged by the earlier clock, so they wait until it passes that reading again.
      return Status::Unauthenticated(
          "this node's clock was stepped back by " + std::to_string((now_ms - own_now_ms) / 1000) +
          " s: requests are judged by its latest reading (replay protection), so this one's "
          "timestamp is outside the window until the clock catches up; the node's operator "
          "should check its time synchronisation (NTP)");
    }
    return Status::Unauthenticated(
        "the request's timestamp is outside the replay window; check "
        "the client's clock");
  }
  // Forget what left the window: a request that old is refused by its timestamp anyway.
  while (!by_expiry_.empty() && by_expiry_.begin()->first < now_ms) {
    const Entry& gone = by_expiry_.begin()->second;
    if (auto u = per_user_.find(gone.first); u != per_user_.end() && --u->second == 0) {
      per_user_.erase(u);
    }
    seen_.erase(gone);
    by_expiry_.erase(by_expiry_.begin());
  }
  Entry entry{auth.user, auth.nonce};
  if (seen_.count(entry)) {
    return Status::Unauthenticated(
        "this request's nonce was used already (a replayed call); "
        "use a fresh random nonce for every call");
  }
  if (seen_.size() >= max_entries_) {
    return Status::ResourceExhausted("too many API calls inside the replay window; retry later");
  }
  auto mine = per_user_.find(auth.user);
  if (mine != per_user_.end() && mine->second >= max_per_user_) {
    return Status::ResourceExhausted(
        "this user has " + std::to_string(mine->second) +
        " API calls in the replay guard (each is remembered until " +
        std::to_string(kApiReplayWindowMs / 60'000) +
        " minutes past its timestamp), the most one user may: slow down and retry later, send "
        "transactions in batches (SubmitTransactions), or spread the load over more users' keys");
  }
  ++per_user_[auth.user];
  seen_.insert(entry);
  by_expiry_.emplace(auth.timestamp_ms + kApiReplayWindowMs, entry);
  return Status::Ok();
}

}  // namespace ertr::proto
