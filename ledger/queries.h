#pragma once

// Read-only questions the API asks of the ledger state (docs/spec/ledger.md, "Queries"). Pure:
// they read only the state they are given, at the block time they are given.

#include <cstdint>
#include <optional>
#include <vector>

#include "ledger/policy.h"
#include "ledger/state.h"

namespace ertr::ledger {

struct VisibleRecord {
  RecordState record;
  AccessBasis basis = AccessBasis::kNone;
};

// The patient's records that `user` may read at time_ms, in record-id order. Erased records and
// records the user may not read are left out.
Result<std::vector<VisibleRecord>> RecordsVisibleTo(const StateView& state,
                                                    const Pseudonym& patient,
                                                    const crypto::PublicKey& user,
                                                    std::uint64_t time_ms);

// Every record of the patient (metadata only; for the home institution and auditors).
Result<std::vector<RecordState>> RecordsOfPatient(const StateView& state, const Pseudonym& patient);

// Audit trails in chain order (height, transaction, entry).
Result<std::vector<AuditEntry>> PatientAuditTrail(const StateView& state, const Pseudonym& patient);
Result<std::vector<AuditEntry>> RecordAuditTrail(const StateView& state, const RecordId& record);

// Every grant of the patient, revoked and expired ones included, in grant-id order.
Result<std::vector<GrantState>> GrantsOfPatient(const StateView& state, const Pseudonym& patient);

// The institutions holding an envelope for the record, and the envelopes.
Result<std::vector<KeyEnvelope>> EnvelopesOf(const StateView& state, const RecordId& record);

// Entitled institutions that hold no envelope yet: the key shares a holder should post.
Result<std::vector<std::string>> MissingEnvelopes(const StateView& state, const RecordId& record,
                                                  std::uint64_t time_ms);

// The outcome of a committed transaction, if it is known.
Result<std::optional<TxOutcomeState>> TransactionOutcome(const StateView& state,
                                                         const crypto::Digest& tx_id);

Result<std::optional<ChainState>> LoadChain(const StateView& state);

// The effective block time the state records, with its height; nullopt on a chain whose genesis
// does not set parameters.block_time_in_state.
Result<std::optional<BlockTimeState>> LoadBlockTime(const StateView& state);

// The record whose ciphertext has this digest (the node uses it to delete erased blobs and to
// refuse storing them again).
Result<std::optional<RecordState>> RecordByCiphertext(const StateView& state,
                                                      const crypto::Digest& ciphertext);

}  // namespace ertr::ledger
