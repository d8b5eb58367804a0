#pragma once

// Rejection: why the chain code refused a transaction, or why the policy evaluator refused a
// read. Every rule of docs/spec/ledger.md has a reason; the code name ("no_consent") is stable and
// is what receipts, the API and access events carry; the field names the part of the transaction
// that was wrong; the message says what to do.

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"

namespace ertr::ledger {

enum class RejectReason : std::uint8_t {
  kMalformed = 1,           // a payload field has the wrong shape
  kWrongChain = 2,          // chain_id is another chain's
  kBadSignature = 3,        // the signature is not the signer's over the body
  kReplayedNonce = 4,       // the signer used this nonce before
  kExpiredTransaction = 5,  // the block is past valid_until_height
  kOversize = 6,            // the transaction is larger than the chain allows
  kUnknownSigner = 7,       // the signer is no registered user, admin or node
  kDeactivatedUser = 8,     // the signer (or subject) was deactivated
  kWrongRole = 9,           // the signer's role may not do this
  kWrongInstitution = 10,   // the signer acts for another institution
  kUnknownInstitution = 11,
  kUnknownUser = 12,
  kUnknownPatient = 13,
  kUnknownRecord = 14,
  kUnknownGrant = 15,
  kAlreadyExists = 16,      // a user, patient, record or grant id that is taken
  kNoConsent = 17,          // no grant covers this read or this key envelope
  kExpiredGrant = 18,       // the only covering grant has expired
  kRevokedGrant = 19,       // the grant was revoked already
  kErased = 20,             // the record was erased
  kNotEntitled = 21,        // an envelope for an institution the policy does not admit
  kNoKeyAccess = 22,        // a key share from a node not of the uploader, or without envelope
  kLastAdmin = 23,          // deactivating the institution's last active admin
  kGenesisNotAllowed = 24,  // a genesis transaction after the chain started
  kNotAllowed = 25,         // disabled on this chain (NullOp without benchmark mode)
  kBadTime = 26,            // a time or duration outside its bounds
};

std::string_view RejectReasonName(RejectReason reason);
// The status code an API answers a rejection with (docs/api.md section 3).
StatusCode RejectReasonStatusCode(RejectReason reason);

struct Rejection {
  RejectReason reason;
  std::string field;    // e.g. "submit_record.envelopes[1].institution_id"; empty if none
  std::string message;  // what was wrong and what to do; no key material, no patient data

  // "no_consent (grant_consent.grantee): ..."
  std::string ToString() const;
};

}  // namespace ertr::ledger
