#include "ledger/rejection.h"

namespace ertr::ledger {

std::string_view RejectReasonName(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformed:
      return "malformed";
    case RejectReason::kWrongChain:
      return "wrong_chain";
    case RejectReason::kBadSignature:
      return "bad_signature";
    case RejectReason::kReplayedNonce:
      return "replayed_nonce";
    case RejectReason::kExpiredTransaction:
      return "expired_transaction";
    case RejectReason::kOversize:
      return "oversize";
    case RejectReason::kUnknownSigner:
      return "unknown_signer";
    case RejectReason::kDeactivatedUser:
      return "deactivated_user";
    case RejectReason::kWrongRole:
      return "wrong_role";
    case RejectReason::kWrongInstitution:
      return "wrong_institution";
    case RejectReason::kUnknownInstitution:
      return "unknown_institution";
    case RejectReason::kUnknownUser:
      return "unknown_user";
    case RejectReason::kUnknownPatient:
      return "unknown_patient";
    case RejectReason::kUnknownRecord:
      return "unknown_record";
    case RejectReason::kUnknownGrant:
      return "unknown_grant";
    case RejectReason::kAlreadyExists:
      return "already_exists";
    case RejectReason::kNoConsent:
      return "no_consent";
    case RejectReason::kExpiredGrant:
      return "expired_grant";
    case RejectReason::kRevokedGrant:
      return "revoked_grant";
    case RejectReason::kErased:
      return "erased";
    case RejectReason::kNotEntitled:
      return "not_entitled";
    case RejectReason::kNoKeyAccess:
      return "no_key_access";
    case RejectReason::kLastAdmin:
      return "last_admin";
    case RejectReason::kGenesisNotAllowed:
      return "genesis_not_allowed";
    case RejectReason::kNotAllowed:
      return "not_allowed";
    case RejectReason::kBadTime:
      return "bad_time";
  }
  return "unknown";
}

std::string Rejection::ToString() const {
  std::string out(RejectReasonName(reason));
  if (!field.empty()) out += " (" + field + ")";
  if (!message.empty()) out += ": " + message;
  return out;
}

StatusCode RejectReasonStatusCode(RejectReason reason) {
  switch (reason) {
    case RejectReason::kMalformed:
    case RejectReason::kWrongChain:
    case RejectReason::kOversize:
    case RejectReason::kBadTime:
      return StatusCode::kInvalidArgument;
    case RejectReason::kBadSignature:
    case RejectReason::kUnknownSigner:
      return StatusCode::kUnauthenticated;
    case RejectReason::kDeactivatedUser:
    case RejectReason::kWrongRole:
    case RejectReason::kWrongInstitution:
    case RejectReason::kNoConsent:
    case RejectReason::kExpiredGrant:
    case RejectReason::kNotEntitled:
    case RejectReason::kNoKeyAccess:
    case RejectReason::kNotAllowed:
      return StatusCode::kPermissionDenied;
    case RejectReason::kUnknownInstitution:
    case RejectReason::kUnknownUser:
    case RejectReason::kUnknownPatient:
    case RejectReason::kUnknownRecord:
    case RejectReason::kUnknownGrant:
      return StatusCode::kNotFound;
    case RejectReason::kAlreadyExists:
    case RejectReason::kReplayedNonce:
      return StatusCode::kAlreadyExists;
    case RejectReason::kRevokedGrant:
    case RejectReason::kErased:
    case RejectReason::kLastAdmin:
    case RejectReason::kExpiredTransaction:
    case RejectReason::kGenesisNotAllowed:
      return StatusCode::kFailedPrecondition;
  }
  return StatusCode::kFailedPrecondition;
}

}  // namespace ertr::ledger
