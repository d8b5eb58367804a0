#pragma once

// The access policy (docs/spec/ledger.md, "Policy"): may user U read record R at block time T,
// and why or why not; which institutions are entitled to a record's data key. The node asks it
// before releasing any data; the chain code asks it when it checks key envelopes and key shares.
// Pure: reads only the state it is given.

#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "ledger/rejection.h"
#include "ledger/state.h"

namespace ertr::ledger {

enum class AccessBasis : std::uint8_t {
  kNone = 0,
  kCareTeam = 1,    // the user is clinical staff of the uploading institution
  kGrant = 2,       // an active grant of the patient covers the user and the record
  kBreakGlass = 3,  // the user holds open emergency access to the patient
};
std::string_view AccessBasisName(AccessBasis basis);

struct ReadDecision {
  bool allowed = false;
  AccessBasis basis = AccessBasis::kNone;
  std::optional<GrantId> grant;     // with kGrant
  std::optional<Rejection> denial;  // when !allowed
};

// Roles that may read record payloads (auditors read audit trails, admins manage membership).
bool IsClinicalRole(Role role);

// True iff the grant is not revoked and not expired at time_ms.
bool IsGrantActive(const GrantState& grant, std::uint64_t time_ms);
// True iff the grant's scope includes the record.
bool GrantCovers(const GrantState& grant, const RecordState& record);

// May `user` read `record_id` at block time `time_ms`? Errors only for unreadable state.
Result<ReadDecision> EvaluateRead(const StateView& state, const crypto::PublicKey& user,
                                  const RecordId& record_id, std::uint64_t time_ms);
// The same for a record already loaded (so a record being submitted can be checked too).
Result<ReadDecision> EvaluateRead(const StateView& state, const UserState& user,
                                  const RecordState& record, std::uint64_t time_ms);

// Institutions entitled to hold the record's data key at time_ms: the uploader, every
// institution named (directly, by a role, or through one of its users) by an active grant that
// covers the record, and the institution of every user with open break-glass on the patient.
Result<std::set<std::string>> EntitledInstitutions(const StateView& state,
                                                   const RecordState& record,
                                                   std::uint64_t time_ms);

}  // namespace ertr::ledger
