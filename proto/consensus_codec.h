#pragma once

// Wire codec of the consensus messages (proto/ertr/consensus/v1/messages.proto). Decoding accepts
// any bytes: sizes are bounded first, every fixed-size field is checked, and failures say which
// field. Transaction ids are recomputed by the receiver with `tx_id`, never taken from the wire.

#include <functional>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/actions.h"
#include "consensus/messages.h"

namespace ertr::proto {

inline constexpr std::size_t kMaxConsensusMessageBytes = 64u << 20;

// Computes a transaction's id from its bytes. The node's is PeekTransactionId (codec.h): the hash
// of a SignedTransaction's body, found without decoding the rest, the same id whenever the
// transaction decodes. It refuses bytes that are not a protobuf message; the replica's
// transaction_valid (node::DecodeOrderable) refuses the rest, decoding and checking every
// transaction it holds no identical copy of (consensus.md section 4.1).
using TxIdFn = std::function<Result<crypto::Digest>(ByteSpan)>;

Bytes EncodeConsensusMessage(const consensus::Message& message);

// The replica's persistent state, as the node keeps it in its consensus log (never sent).
// Encoding leaves out the prepared certificates (each has its own log entry, ADR 0010);
// decoding still reads those that logs written before that change hold.
Bytes EncodeReplicaState(const consensus::PersistentState& state);
Result<consensus::PersistentState> DecodeReplicaState(ByteSpan bytes);
// One prepared certificate (the node's consensus log keeps one entry per height, ADR 0010).
Bytes EncodePreparedCertificate(const consensus::PreparedCertificate& pc);
// The same with the proposal's header only: its transactions are stored as the block body at its
// height (storage::StagedBody, ADR 0025). It decodes to a proposal with no transactions, whose
// header's tx_count and tx_root say what the body must hold.
Bytes EncodePreparedCertificateWithoutTransactions(const consensus::PreparedCertificate& pc);
Result<consensus::PreparedCertificate> DecodePreparedCertificate(ByteSpan bytes);
Result<consensus::Message> DecodeConsensusMessage(ByteSpan bytes, const TxIdFn& tx_id);

// A stable checkpoint's proof, as state transfer sends it (ertr.net.v1.StateProof, ADR 0037).
// Decoding checks shapes only; consensus::VerifyCheckpointProof checks the signatures.
Bytes EncodeCheckpointProof(const consensus::CheckpointProof& proof);
Result<consensus::CheckpointProof> DecodeCheckpointProof(ByteSpan bytes);

}  // namespace ertr::proto
