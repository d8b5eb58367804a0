#pragma once

// Internal to node_api*.cc (and the metrics of node_http.cc): helpers shared by the gRPC service
// and the calls it runs.

#include <chrono>
#include <optional>
#include <string>

#include "crypto/secure_buffer.h"
#include "ledger/rejection.h"
#include "ledger/state.h"

namespace ertr::node::api {

inline constexpr auto kCommitWaitLimit = std::chrono::seconds(60);
inline constexpr auto kUploadTtl = std::chrono::minutes(30);
inline constexpr auto kOrphanSweepInterval = std::chrono::minutes(10);
inline constexpr std::size_t kMaxCommitWaiters = 50'000;
inline constexpr std::size_t kMaxSubmitBatch = 1'000;
inline constexpr std::size_t kMaxAccessBatch = 256;
inline constexpr auto kAccessFlushDelay = std::chrono::milliseconds(100);

// Plaintext and key bytes leave no copy behind in reused buffers.
using crypto::Wipe;

// This institution's sealed data key for a record, if it holds one.
inline Result<std::optional<ledger::SealedKey>> EnvelopeOf(const ledger::StateView& view,
                                                           const ledger::RecordId& record,
                                                           std::string_view institution) {
  ERTR_ASSIGN_OR_RETURN(auto raw, view.Get(ledger::keys::Envelope(record, institution)));
  if (!raw) return std::optional<ledger::SealedKey>();
  ERTR_ASSIGN_OR_RETURN(auto sealed, ledger::SealedKey::FromSpan(*raw, "envelope"));
  return std::optional<ledger::SealedKey>(sealed);
}

// Text a client chose (a method name, an error that quotes its input) as one log field: printable
// ASCII only, '"' and '\\' replaced, at most 200 characters, so a caller cannot forge log lines.
// Our own messages' "…" and "—" are written as "..." and "-"; any other character outside ASCII
// becomes one '?'.
inline std::string LogText(std::string_view s) {
  std::string out;
  s = s.substr(0, 200);
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (s.substr(i, 3) == "\u2026" || s.substr(i, 3) == "\u2014") {
      out += s.substr(i, 3) == "\u2026" ? "..." : "-";
      i += 2;
    } else if (c >= 0x80 && c < 0xc0) {
      // a continuation byte: its character was replaced at its first byte
    } else {
      out.push_back(c >= 0x20 && c < 0x7f && c != '"' && c != '\\' ? static_cast<char>(c) : '?');
    }
  }
  return out;
}

// A committed-but-rejected transaction as the caller's error.
inline Status Rejected(const ledger::TxOutcomeState& o) {
  return Status::WithCode(ledger::RejectReasonStatusCode(o.reason),
                          "committed at height " + std::to_string(o.height) +
                              " but rejected: " + std::string(ledger::RejectReasonName(o.reason)) +
                              (o.field.empty() ? "" : " (" + o.field + ")") +
                              (o.message.empty() ? "" : ": " + o.message));
}

}  // namespace ertr::node::api
