#pragma once

// Domain types of the chain code's transactions (wire schema: proto/ertr/v1/transaction.proto,
// decoded by proto/ledger_codec.h). Rules for every field: docs/spec/ledger.md. Nothing here may
// ever hold a patient's name, MRN, birth date or other identifier (docs/privacy.md).

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "crypto/box_key.h"
#include "crypto/fixed_bytes.h"
#include "crypto/hash.h"
#include "crypto/signing.h"
#include "ledger/transaction.h"

namespace ertr::ledger {

struct PseudonymTag {};
struct RecordIdTag {};
struct GrantIdTag {};
// 16 random bytes made by the patient's home institution; the only patient datum on chain.
using Pseudonym = crypto::FixedBytes<16, PseudonymTag>;
using RecordId = crypto::FixedBytes<16, RecordIdTag>;
using GrantId = crypto::FixedBytes<16, GrantIdTag>;
using SealedKey = crypto::FixedBytes<80, struct SealedKeyTag>;  // crypto_box_seal of a 32 B key

// Values equal the protobuf enum numbers.
enum class Role : std::uint8_t {
  kUnspecified = 0,
  kPhysician = 1,
  kPhysicist = 2,
  kTherapist = 3,
  kIntegrator = 4,
  kAuditor = 5,
  kAdmin = 6,
};
inline constexpr std::uint8_t kMaxRole = 6;

enum class RecordKind : std::uint8_t {
  kUnspecified = 0,
  kRtBeamsTreatmentRecord = 1,
  kRtIonBeamsTreatmentRecord = 2,
  kRtPlan = 3,
  kRtDose = 4,
  kRtStructureSet = 5,
  kRtImage = 6,
  kCtImage = 7,
  kMrImage = 8,
  kFhirResource = 9,
  kDocument = 10,
  kRtIonPlan = 11,
  kRtBrachyTreatmentRecord = 12,
  kRtTreatmentSummaryRecord = 13,
};
inline constexpr std::uint8_t kMaxRecordKind = 13;

std::string_view RoleName(Role role);              // "physician"
std::string_view RecordKindName(RecordKind kind);  // "rt-beams-treatment-record"

struct Institution {
  std::string id;    // 1..32 of [a-z0-9-]
  std::string name;  // display name, 1..128 printable characters
  crypto::PublicKey validator_key;
  crypto::BoxPublicKey encryption_key;
  std::vector<crypto::PublicKey> admin_keys;
};

struct ChainParameters {
  std::uint32_t max_block_transactions = 2000;
  std::uint64_t max_block_bytes = 8u << 20;
  std::uint64_t max_transaction_bytes = 256u << 10;
  std::uint64_t checkpoint_interval = 64;
  // Heights a transaction without a deadline may wait in a mempool before it is dropped.
  std::uint64_t default_validity_window = 1000;
  bool benchmark_mode = false;
  // The chain code writes each block's effective time under "c/time" (docs/spec/ledger.md 5.1,
  // ADR 0037). Not part of "c/chain"'s encoding, so that chains created before it keep their
  // state roots: the state records it as the presence of "c/time".
  bool block_time_in_state = false;
};

struct Genesis {
  std::string chain_id;
  std::uint64_t genesis_time_ms = 0;
  std::vector<Institution> institutions;  // validator i is institutions[i]
  ChainParameters parameters;
};

struct RegisterUser {
  std::string institution_id;
  crypto::PublicKey user_key;
  Role role = Role::kUnspecified;
  std::string staff_handle;  // opaque staff account code, [A-Za-z0-9._:-]{1,64}
};

struct DeactivateUser {
  crypto::PublicKey user_key;
  std::string reason_code;
};

struct RegisterPatient {
  Pseudonym pseudonym;
  std::string home_institution_id;
  std::optional<crypto::PublicKey> patient_key;
};

struct KeyEnvelope {
  std::string institution_id;
  SealedKey sealed_key;
};

struct BlobLocator {
  crypto::Digest content_digest;
  std::vector<std::string> holder_institutions;
};

struct SubmitRecord {
  RecordId record_id;
  Pseudonym patient;
  RecordKind kind = RecordKind::kUnspecified;
  crypto::Digest ciphertext_digest;
  std::uint64_t ciphertext_size = 0;
  BlobLocator locator;
  std::string uploader_institution_id;
  std::vector<KeyEnvelope> envelopes;
};

// Who a grant names: a whole institution, one role at an institution, or one user.
struct GranteeInstitution {
  std::string institution_id;
  auto operator<=>(const GranteeInstitution&) const = default;
};
struct GranteeRole {
  std::string institution_id;
  Role role = Role::kUnspecified;
  auto operator<=>(const GranteeRole&) const = default;
};
struct GranteeUser {
  crypto::PublicKey user_key;
  auto operator<=>(const GranteeUser&) const = default;
};
using Grantee = std::variant<GranteeInstitution, GranteeRole, GranteeUser>;

// What a grant covers: all of the patient's records (also later ones), some kinds, or one record.
struct ScopeAll {
  auto operator<=>(const ScopeAll&) const = default;
};
struct ScopeKinds {
  std::vector<RecordKind> kinds;  // sorted, distinct
  auto operator<=>(const ScopeKinds&) const = default;
};
struct ScopeRecord {
  RecordId record_id;
  auto operator<=>(const ScopeRecord&) const = default;
};
using ConsentScope = std::variant<ScopeAll, ScopeKinds, ScopeRecord>;

struct GrantConsent {
  GrantId grant_id;
  Pseudonym patient;
  Grantee grantee;
  ConsentScope scope;
  std::uint64_t expires_at_ms = 0;  // block time; 0 = no expiry
};

struct RevokeConsent {
  GrantId grant_id;
  Pseudonym patient;
};

struct KeyShare {
  RecordId record_id;
  KeyEnvelope envelope;
};

enum class AccessOutcome : std::uint8_t {
  kUnspecified = 0,
  kGranted = 1,
  kDenied = 2,
  kBreakGlass = 3
};

struct AccessEvent {
  RecordId record_id;
  crypto::PublicKey user_key;
  std::string institution_id;
  AccessOutcome outcome = AccessOutcome::kUnspecified;
  std::string purpose;  // code, [A-Za-z0-9._:-]{1,64}
  std::uint64_t requested_at_ms = 0;
  std::string reason;  // for denials: the rejection code the node answered with
};

struct RecordAccess {
  std::vector<AccessEvent> events;
};

struct BreakGlass {
  Pseudonym patient;
  std::string reason_code;
  std::uint64_t duration_ms = 0;
};
// Bounds of break-glass access (BreakGlass::duration_ms).
inline constexpr std::uint64_t kMinBreakGlassMs = 60'000;
inline constexpr std::uint64_t kMaxBreakGlassMs = 24ull * 3600 * 1000;

struct EraseRecord {
  RecordId record_id;
  std::string reason_code;
};

struct NullOp {
  Bytes payload;
};

using Payload =
    std::variant<Genesis, RegisterUser, DeactivateUser, RegisterPatient, SubmitRecord, GrantConsent,
                 RevokeConsent, KeyShare, RecordAccess, BreakGlass, EraseRecord, NullOp>;

// A signed transaction with its payload decoded. `payload` holds the decoding error when the
// body's envelope was sound but its typed payload was not (the chain code rejects it, naming the
// field, so that every validator records the same outcome).
struct Transaction {
  SignedTransaction signed_tx;
  Result<Payload> payload = Status::InvalidArgument("payload not decoded");
};

}  // namespace ertr::ledger
