#pragma once

// Shape rules of transaction payloads: what a payload must look like on its own, before any state
// is consulted (docs/spec/ledger.md, "Shape"). The chain code applies them to every transaction of
// a block; nodes apply them at admission (node/mempool.cc), so that the submitter hears about a
// mistake at once and a malformed payload (free text in a code, say) is never ordered.

#include <optional>
#include <string_view>

#include "ledger/rejection.h"
#include "ledger/types.h"

namespace ertr::ledger {

inline constexpr std::size_t kMaxInstitutions = 64;
inline constexpr std::size_t kMaxAdminKeys = 16;
inline constexpr std::size_t kMaxEnvelopes = 64;
inline constexpr std::size_t kMaxAccessEvents = 256;
inline constexpr std::size_t kMaxScopeKinds = 16;
inline constexpr std::uint64_t kMaxCiphertextSize = 1ull << 40;  // 1 TiB
// A block must fit one 16 MiB peer frame with its encoding and certificate around it.
inline constexpr std::uint64_t kMaxBlockBytesLimit = 12u << 20;

// Institution ids: 1..32 of [a-z0-9-], not starting with '-'.
bool IsValidInstitutionId(std::string_view id);
// Codes (staff handles, reason codes, purposes): 1..64 of [A-Za-z0-9._:-]. Never prose: free text
// could carry a patient's name onto the chain.
bool IsValidCode(std::string_view code);

// nullopt if the payload is well-formed; otherwise kMalformed naming the field.
std::optional<Rejection> ValidateShape(const Payload& payload);

}  // namespace ertr::ledger
