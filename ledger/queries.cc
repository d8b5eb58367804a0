#include "ledger/queries.h"

namespace ertr::ledger {

Result<std::vector<RecordState>> RecordsOfPatient(const StateView& state,
                                                  const Pseudonym& patient) {
  std::vector<RecordState> out;
  const Bytes prefix = keys::PatientRecords(patient);
  std::vector<RecordId> ids;
  ERTR_RETURN_IF_ERROR(state.ScanPrefix(prefix, [&](ByteSpan key, ByteSpan) {
    auto id = RecordId::FromSpan(key.subspan(prefix.size()), "record");
    if (id) ids.push_back(*id);
    return true;
  }));
  for (const auto& id : ids) {
    ERTR_ASSIGN_OR_RETURN(auto record, state.Load<RecordState>(keys::Record(id)));
    if (!record)
      return Status::DataLoss("patient index names record " + id.ShortHex() + " but it is missing");
    out.push_back(std::move(*record));
  }
  return out;
}

Result<std::vector<VisibleRecord>> RecordsVisibleTo(const StateView& state,
                                                    const Pseudonym& patient,
                                                    const crypto::PublicKey& user_key,
                                                    std::uint64_t time_ms) {
  std::vector<VisibleRecord> out;
  ERTR_ASSIGN_OR_RETURN(auto user, state.Load<UserState>(keys::User(user_key)));
  if (!user) return out;
  ERTR_ASSIGN_OR_RETURN(auto records, RecordsOfPatient(state, patient));
  for (auto& r : records) {
    ERTR_ASSIGN_OR_RETURN(auto decision, EvaluateRead(state, *user, r, time_ms));
    if (decision.allowed) out.push_back(VisibleRecord{std::move(r), decision.basis});
  }
  return out;
}

Result<std::vector<AuditEntry>> PatientAuditTrail(const StateView& state,
                                                  const Pseudonym& patient) {
  return state.LoadAll<AuditEntry>(keys::PatientAudit(patient));
}

Result<std::vector<AuditEntry>> RecordAuditTrail(const StateView& state, const RecordId& record) {
  return state.LoadAll<AuditEntry>(keys::RecordAudit(record));
}

Result<std::vector<GrantState>> GrantsOfPatient(const StateView& state, const Pseudonym& patient) {
  return state.LoadAll<GrantState>(keys::PatientGrants(patient));
}

Result<std::vector<KeyEnvelope>> EnvelopesOf(const StateView& state, const RecordId& record) {
  std::vector<KeyEnvelope> out;
  const Bytes prefix = keys::Envelopes(record);
  Status bad;
  ERTR_RETURN_IF_ERROR(state.ScanPrefix(prefix, [&](ByteSpan key, ByteSpan value) {
    auto sealed = SealedKey::FromSpan(value, "sealed_key");
    if (!sealed || key.size() <= prefix.size()) {
      bad = Status::DataLoss("envelope entry " + ToHex(key) + " is malformed");
      return false;
    }
    out.push_back(KeyEnvelope{std::string(AsStringView(key.subspan(prefix.size() + 1))), *sealed});
    return true;
  }));
  ERTR_RETURN_IF_ERROR(bad);
  return out;
}

Result<std::vector<std::string>> MissingEnvelopes(const StateView& state, const RecordId& record_id,
                                                  std::uint64_t time_ms) {
  std::vector<std::string> out;
  ERTR_ASSIGN_OR_RETURN(auto record, state.Load<RecordState>(keys::Record(record_id)));
  if (!record) return out;
  ERTR_ASSIGN_OR_RETURN(auto entitled, EntitledInstitutions(state, *record, time_ms));
  ERTR_ASSIGN_OR_RETURN(auto envelopes, EnvelopesOf(state, record_id));
  for (const auto& e : envelopes) entitled.erase(e.institution_id);
  out.assign(entitled.begin(), entitled.end());
  return out;
}

Result<std::optional<TxOutcomeState>> TransactionOutcome(const StateView& state,
                                                         const crypto::Digest& tx_id) {
  return state.Load<TxOutcomeState>(keys::Outcome(tx_id));
}

Result<std::optional<RecordState>> RecordByCiphertext(const StateView& state,
                                                      const crypto::Digest& ciphertext) {
  ERTR_ASSIGN_OR_RETURN(auto raw, state.Get(keys::CiphertextRecord(ciphertext)));
  if (!raw) return std::optional<RecordState>();
  auto id = RecordId::FromSpan(*raw, "record_id");
  if (!id) return Status::DataLoss("ciphertext index entry is malformed");
  return state.Load<RecordState>(keys::Record(*id));
}

Result<std::optional<ChainState>> LoadChain(const StateView& state) {
  return state.Load<ChainState>(keys::Chain());
}

Result<std::optional<BlockTimeState>> LoadBlockTime(const StateView& state) {
  return state.Load<BlockTimeState>(keys::BlockTime());
}

}  // namespace ertr::ledger
