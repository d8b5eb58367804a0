#pragma once

// Typed transaction payloads <-> wire (proto/ertr/v1/transaction.proto). Decoding checks sizes of
// keys, ids and digests and enum ranges and names the field that is wrong; the chain's shape and
// state rules are ledger/'s (ledger/shape.h, ledger/chain_code.h).

#include <filesystem>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/signing.h"
#include "ledger/types.h"

namespace ertr::proto {

// Decodes a SignedTransaction and its typed payload. Fails only when the envelope is unusable
// (see DecodeSignedTransaction); a bad typed payload is kept in Transaction::payload as an error
// so that the chain code rejects it with a reason.
Result<ledger::Transaction> DecodeTransaction(ByteSpan bytes);
// The same without hashing the body again: `id` must be the id this node computed from these
// bytes (PeekTransactionId, or the id of a consensus::Transaction). Equal results otherwise.
Result<ledger::Transaction> DecodeTransaction(ByteSpan bytes, const crypto::Digest& id);
// The same for an already decoded envelope.
ledger::Transaction DecodePayload(ledger::SignedTransaction signed_tx);
// DecodeTransaction for a transaction entering this node (its mempool's admission), which also
// refuses bytes that are not the canonical encoding of what they decode to: the fields the schema
// defines, each once, in field-number order, defaults left out, in shortest form (what every
// proto3 encoder of the schema writes; docs/spec/ledger.md section 1.1). A transaction's bytes
// stay in the blocks for good while the chain code reads only the fields it knows, so an unknown
// field, or an earlier copy of a field that the parser overwrites, would carry bytes no rule ever
// looked at (free text, a patient's name) onto the chain. Replicas apply the same check to every
// copy in a proposal they did not admit themselves (node::DecodeOrderable), so no block holds
// other bytes. `id`: as for DecodeTransaction, when not null.
Result<ledger::Transaction> DecodeTransactionToAdmit(ByteSpan bytes, const crypto::Digest* id);

// The serialized TransactionBody for a header (payload type ignored) and payload.
Bytes EncodeTransactionBody(const ledger::TransactionHeader& header,
                            const ledger::Payload& payload);

// Builds, signs and decodes back a transaction: what clients and tests submit.
Result<ledger::Transaction> MakeTransaction(const ledger::TransactionHeader& header,
                                            const ledger::Payload& payload,
                                            const crypto::Signer& signer);

// Reads a network's genesis.bin: a signed transaction holding a genesis payload (not checked
// against any rule here: ledger::ChainCode::ExecuteGenesis does that). NotFound if the file
// cannot be read; InvalidArgument if it is not a genesis file.
Result<ledger::Transaction> LoadGenesis(const std::filesystem::path& file);

}  // namespace ertr::proto
