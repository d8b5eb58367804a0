#pragma once

// The chain code's state: value types, their keys, and StateView, which reads the committed state
// with a block's pending writes layered on top. Key layout and encoding: docs/spec/ledger.md,
// "State". Every key begins with a short ASCII prefix and a '/'; variable-length parts carry a
// one-byte length so that no key is a prefix of another kind's key.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <absl/container/flat_hash_map.h>
#include <absl/strings/string_view.h>

#include "common/state_delta.h"
#include "common/state_reader.h"
#include "ledger/rejection.h"
#include "ledger/state_codec.h"
#include "ledger/types.h"

namespace ertr::ledger {

// "c/chain": written once by genesis. `params.block_time_in_state` is not encoded here (see
// ChainParameters): read "c/time" instead.
struct ChainState {
  std::string chain_id;
  std::uint64_t genesis_time_ms = 0;
  ChainParameters params;
  std::vector<std::string> validators;  // institution ids, validator i first
};

struct InstitutionState {
  std::string id;
  std::string name;
  crypto::PublicKey validator_key;
  crypto::BoxPublicKey encryption_key;
  std::uint32_t validator_index = 0;
};

struct UserState {
  crypto::PublicKey key;
  std::string institution_id;
  Role role = Role::kUnspecified;
  std::string staff_handle;
  bool active = true;
  std::uint64_t registered_height = 0;
  std::uint64_t deactivated_height = 0;
};

struct PatientState {
  Pseudonym pseudonym;
  std::string home_institution_id;
  std::optional<crypto::PublicKey> patient_key;
  std::uint64_t registered_height = 0;
};

struct RecordState {
  RecordId id;
  Pseudonym patient;
  RecordKind kind = RecordKind::kUnspecified;
  crypto::Digest ciphertext_digest;
  std::uint64_t ciphertext_size = 0;
  std::vector<std::string> holders;  // institutions whose nodes hold the blob
  crypto::PublicKey uploader_user;
  std::string uploader_institution_id;
  std::uint64_t height = 0;
  std::uint64_t time_ms = 0;  // the block time: the record's timestamp
  crypto::Digest tx_id;
  bool erased = false;
  std::uint64_t erased_height = 0;
};

struct GrantState {
  GrantId id;
  Pseudonym patient;
  Grantee grantee;
  ConsentScope scope;
  std::uint64_t expires_at_ms = 0;
  crypto::PublicKey granted_by;
  std::uint64_t granted_height = 0;
  std::uint64_t granted_time_ms = 0;
  bool revoked = false;
  std::uint64_t revoked_height = 0;
};

struct BreakGlassState {
  Pseudonym patient;
  crypto::PublicKey user_key;
  std::string institution_id;
  std::string reason_code;
  std::uint64_t opened_time_ms = 0;
  std::uint64_t expires_at_ms = 0;
};

enum class AuditKind : std::uint8_t {
  kPatientRegistered = 1,
  kRecordSubmitted = 2,
  kConsentGranted = 3,
  kConsentRevoked = 4,
  kKeyShared = 5,
  kAccessGranted = 6,
  kAccessDenied = 7,
  kAccessBreakGlass = 8,
  kBreakGlassOpened = 9,
  kRecordErased = 10,
  kEnvelopeWithdrawn = 11,  // an institution lost entitlement: its envelope left the state
};
std::string_view AuditKindName(AuditKind kind);

// One line of a patient's (and a record's) audit trail.
struct AuditEntry {
  AuditKind kind = AuditKind::kRecordSubmitted;
  std::uint64_t height = 0;
  std::uint64_t time_ms = 0;
  crypto::PublicKey actor;  // signer, or for access events the user who read
  std::string actor_institution;
  Pseudonym patient;
  std::optional<RecordId> record;
  std::optional<GrantId> grant;
  std::string detail;    // purpose, reason code or institution, as a code
  bool flagged = false;  // break-glass, or an access the chain's policy would not have granted
  crypto::Digest tx_id;
  std::uint64_t event_time_ms = 0;  // when a read was requested (access events); else time_ms
};

// "c/time", on a chain whose genesis sets parameters.block_time_in_state: the effective block
// time after the block at `height` (the largest header time so far, docs/spec/consensus.md),
// written by genesis (height 0, the genesis time) and by every block. The state root then covers
// it, so a state transferred at a certified checkpoint carries it (ADR 0037).
struct BlockTimeState {
  std::uint64_t height = 0;
  std::uint64_t time_ms = 0;
};

// The outcome of one transaction of a committed block ("o/" + tx id).
struct TxOutcomeState {
  std::uint64_t height = 0;
  std::uint32_t index = 0;
  bool accepted = false;
  RejectReason reason = RejectReason::kMalformed;
  std::string field;
  std::string message;
};

namespace keys {
Bytes Chain();
Bytes BlockTime();
Bytes Institution(std::string_view id);
Bytes ValidatorKey(const crypto::PublicKey& key);  // -> institution id
Bytes User(const crypto::PublicKey& key);
Bytes Users();                                            // prefix of every user
Bytes InstitutionUsers(std::string_view institution_id);  // prefix
Bytes InstitutionUser(std::string_view institution_id, const crypto::PublicKey& key);
Bytes Patient(const Pseudonym& p);
Bytes Record(const RecordId& r);
Bytes Records();                           // prefix of every record
Bytes PatientRecords(const Pseudonym& p);  // prefix
Bytes PatientRecord(const Pseudonym& p, const RecordId& r);
Bytes Envelopes(const RecordId& r);  // prefix
Bytes Envelope(const RecordId& r, std::string_view institution_id);
Bytes GrantIndex(const GrantId& g);
Bytes PatientGrants(const Pseudonym& p);  // prefix
Bytes Grant(const Pseudonym& p, const GrantId& g);
Bytes BreakGlasses(const Pseudonym& p);  // prefix
Bytes BreakGlass(const Pseudonym& p, const crypto::PublicKey& user);
Bytes ExpiriesUpTo();  // prefix of the expiry index
Bytes Expiry(std::uint64_t time_ms, const Pseudonym& p);
Bytes Nonce(const crypto::PublicKey& signer, std::uint64_t nonce);
Bytes PatientKey(const crypto::PublicKey& key);            // -> pseudonym
Bytes CiphertextRecord(const crypto::Digest& ciphertext);  // -> record id
Bytes UserPatients(const crypto::PublicKey& user);         // prefix
Bytes UserPatient(const crypto::PublicKey& user, const Pseudonym& p);
Bytes Outcome(const crypto::Digest& tx_id);
Bytes PatientAudit(const Pseudonym& p);  // prefix
Bytes RecordAudit(const RecordId& r);    // prefix
// Position of an audit entry: height, transaction index, entry index within the transaction.
Bytes AuditPosition(std::uint64_t height, std::uint32_t tx_index, std::uint32_t entry);
}  // namespace keys

// Remembers each value it read from `base` (or that the key was absent) for as long as it lives:
// one block's execution, during which the committed state does not change (the node stores a
// block's writes only after executing it). A block's records read the same institutions, signers
// and absent keys again and again; each is then read once. Errors are not remembered. Prefix
// scans pass through. At most kMaxEntries values are kept (a bound on memory for any block).
// Lifetime: `base` must outlive the reader. Not thread-safe.
class CachingStateReader final : public StateReader {
 public:
  static constexpr std::size_t kMaxEntries = 1 << 16;
  explicit CachingStateReader(const StateReader& base) : base_(base) {}
  CachingStateReader(const CachingStateReader&) = delete;
  CachingStateReader& operator=(const CachingStateReader&) = delete;

  Result<std::optional<Bytes>> Get(ByteSpan key) const override;
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const override {
    return base_.ScanPrefix(prefix, fn);
  }
  std::size_t base_reads() const { return base_reads_; }

 private:
  const StateReader& base_;
  mutable absl::flat_hash_map<std::string, std::optional<Bytes>> read_;
  mutable std::size_t base_reads_ = 0;
};

// Reads through a block's pending writes to the committed state, and collects the writes.
// Lifetime: `base` must outlive the view. Not thread-safe.
// A view is itself a StateReader, so a transaction's view can stack on its block's view and be
// merged into it only if the transaction is accepted.
class StateView : public StateReader {
 public:
  explicit StateView(const StateReader& base) : base_(base) {}
  // Not copyable: a copy would duplicate the pending writes (stack a view instead, by passing it
  // as the base: StateView tx(static_cast<const StateReader&>(block))).
  StateView(const StateView&) = delete;
  StateView& operator=(const StateView&) = delete;
  StateView(StateView&&) = default;

  Result<std::optional<Bytes>> Get(ByteSpan key) const override;
  // Entries under prefix in key order, pending writes included, deletions hidden.
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan key, ByteSpan value)>& fn) const override;
  void Put(Bytes key, Bytes value) { delta_.Put(std::move(key), std::move(value)); }
  void Delete(Bytes key) { delta_.Delete(std::move(key)); }

  template <typename T>
  Result<std::optional<T>> Load(ByteSpan key) const {
    ERTR_ASSIGN_OR_RETURN(auto raw, Get(key));
    if (!raw) return std::optional<T>();
    auto value = codec::Decode<T>(*raw);
    if (!value) return value.error().WithContext("state key " + ToHex(key));
    return std::optional<T>(std::move(*value));
  }
  template <typename T>
  void Save(Bytes key, const T& value) {
    Put(std::move(key), codec::Encode(value));
  }
  // Decodes every value under prefix.
  template <typename T>
  Result<std::vector<T>> LoadAll(ByteSpan prefix) const {
    std::vector<T> out;
    Status decode_error;
    ERTR_RETURN_IF_ERROR(ScanPrefix(prefix, [&](ByteSpan key, ByteSpan value) {
      auto v = codec::Decode<T>(value);
      if (!v) {
        decode_error = v.error().WithContext("state key " + ToHex(key));
        return false;
      }
      out.push_back(std::move(*v));
      return true;
    }));
    ERTR_RETURN_IF_ERROR(decode_error);
    return out;
  }

  // Applies another view's writes on top of this one's.
  void Merge(StateDelta delta) {
    for (auto& [k, v] : delta.writes) delta_.writes[k] = std::move(v);
  }
  const StateDelta& delta() const { return delta_; }
  StateDelta TakeDelta() { return std::move(delta_); }

 private:
  const StateReader& base_;
  StateDelta delta_;
};

// Field lists for codec.h (one per value type).
template <typename A>
void Fields(A& a, ChainParameters& v) {
  a(v.max_block_transactions, "max_block_transactions");
  a(v.max_block_bytes, "max_block_bytes");
  a(v.max_transaction_bytes, "max_transaction_bytes");
  a(v.checkpoint_interval, "checkpoint_interval");
  a(v.default_validity_window, "default_validity_window");
  a(v.benchmark_mode, "benchmark_mode");
  // Not v.block_time_in_state: see ChainParameters.
}
template <typename A>
void Fields(A& a, ChainState& v) {
  a(v.chain_id, "chain_id");
  a(v.genesis_time_ms, "genesis_time_ms");
  a(v.params, "params");
  a(v.validators, "validators");
}
template <typename A>
void Fields(A& a, InstitutionState& v) {
  a(v.id, "id");
  a(v.name, "name");
  a(v.validator_key, "validator_key");
  a(v.encryption_key, "encryption_key");
  a(v.validator_index, "validator_index");
}
template <typename A>
void Fields(A& a, UserState& v) {
  a(v.key, "key");
  a(v.institution_id, "institution_id");
  a(v.role, "role");
  a(v.staff_handle, "staff_handle");
  a(v.active, "active");
  a(v.registered_height, "registered_height");
  a(v.deactivated_height, "deactivated_height");
}
template <typename A>
void Fields(A& a, PatientState& v) {
  a(v.pseudonym, "pseudonym");
  a(v.home_institution_id, "home_institution_id");
  a(v.patient_key, "patient_key");
  a(v.registered_height, "registered_height");
}
template <typename A>
void Fields(A& a, RecordState& v) {
  a(v.id, "id");
  a(v.patient, "patient");
  a(v.kind, "kind");
  a(v.ciphertext_digest, "ciphertext_digest");
  a(v.ciphertext_size, "ciphertext_size");
  a(v.holders, "holders");
  a(v.uploader_user, "uploader_user");
  a(v.uploader_institution_id, "uploader_institution_id");
  a(v.height, "height");
  a(v.time_ms, "time_ms");
  a(v.tx_id, "tx_id");
  a(v.erased, "erased");
  a(v.erased_height, "erased_height");
}
template <typename A>
void Fields(A& a, GranteeInstitution& v) {
  a(v.institution_id, "institution_id");
}
template <typename A>
void Fields(A& a, GranteeRole& v) {
  a(v.institution_id, "institution_id");
  a(v.role, "role");
}
template <typename A>
void Fields(A& a, GranteeUser& v) {
  a(v.user_key, "user_key");
}
template <typename A>
void Fields(A&, ScopeAll&) {}
template <typename A>
void Fields(A& a, ScopeKinds& v) {
  a(v.kinds, "kinds");
}
template <typename A>
void Fields(A& a, ScopeRecord& v) {
  a(v.record_id, "record_id");
}
template <typename A>
void Fields(A& a, GrantState& v) {
  a(v.id, "id");
  a(v.patient, "patient");
  a(v.grantee, "grantee");
  a(v.scope, "scope");
  a(v.expires_at_ms, "expires_at_ms");
  a(v.granted_by, "granted_by");
  a(v.granted_height, "granted_height");
  a(v.granted_time_ms, "granted_time_ms");
  a(v.revoked, "revoked");
  a(v.revoked_height, "revoked_height");
}
template <typename A>
void Fields(A& a, BreakGlassState& v) {
  a(v.patient, "patient");
  a(v.user_key, "user_key");
  a(v.institution_id, "institution_id");
  a(v.reason_code, "reason_code");
  a(v.opened_time_ms, "opened_time_ms");
  a(v.expires_at_ms, "expires_at_ms");
}
template <typename A>
void Fields(A& a, AuditEntry& v) {
  a(v.kind, "kind");
  a(v.height, "height");
  a(v.time_ms, "time_ms");
  a(v.actor, "actor");
  a(v.actor_institution, "actor_institution");
  a(v.patient, "patient");
  a(v.record, "record");
  a(v.grant, "grant");
  a(v.detail, "detail");
  a(v.flagged, "flagged");
  a(v.tx_id, "tx_id");
  a(v.event_time_ms, "event_time_ms");
}
template <typename A>
void Fields(A& a, BlockTimeState& v) {
  a(v.height, "height");
  a(v.time_ms, "time_ms");
}
template <typename A>
void Fields(A& a, TxOutcomeState& v) {
  a(v.height, "height");
  a(v.index, "index");
  a(v.accepted, "accepted");
  a(v.reason, "reason");
  a(v.field, "field");
  a(v.message, "message");
}

}  // namespace ertr::ledger
