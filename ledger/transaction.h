#pragma once

// Domain view of a signed transaction (wire schema: proto/ertr/v1/transaction.proto). The body
// bytes are kept exactly as received: they are what was signed and what the id hashes. Typed
// payloads are decoded by the chain code when it applies the transaction (docs/spec/ledger.md).

#include <cstdint>
#include <string>

#include "common/bytes.h"
#include "crypto/hash.h"
#include "crypto/signing.h"

namespace ertr::ledger {

// Which payload a transaction body carries (the TransactionBody.payload oneof field number).
enum class PayloadType : std::uint8_t {
  kNone = 0,
  kGenesis = 10,
  kRegisterUser = 11,
  kDeactivateUser = 12,
  kRegisterPatient = 13,
  kSubmitRecord = 14,
  kGrantConsent = 15,
  kRevokeConsent = 16,
  kKeyShare = 17,
  kRecordAccess = 18,
  kBreakGlass = 19,
  kEraseRecord = 20,
  kNullOp = 21,
};

// The envelope fields of a body, decoded and checked for shape.
struct TransactionHeader {
  std::string chain_id;
  crypto::PublicKey signer;
  std::uint64_t nonce = 0;
  std::uint64_t valid_until_height = 0;
  PayloadType payload = PayloadType::kNone;
};

struct SignedTransaction {
  Bytes body;  // serialized TransactionBody
  crypto::Signature signature;
  TransactionHeader header;
  crypto::Digest id;  // TransactionId(body)
};

// BLAKE2b-256("ertr/txid/v1" || 0x00 || body).
crypto::Digest TransactionId(ByteSpan body);

// True iff the signature is header.signer's over the body in the transaction domain.
bool HasValidSignature(const SignedTransaction& tx, const crypto::Verifier& verifier);

// True iff the transaction is a NullOp on a chain whose genesis enables benchmark mode: such a
// command is not signed by a client (its signature field is not checked; clients send 64 zero
// bytes), uses no nonce and has no effect (docs/spec/ledger.md section 1.2, issue 11).
inline bool IsUnsignedCommand(const TransactionHeader& h, bool benchmark_mode) {
  return benchmark_mode && h.payload == PayloadType::kNullOp;
}

// True iff the transaction is its signer's (HasValidSignature) or a benchmark chain's unsigned
// command: what admission requires, and what its outcome depends on outside the body its id
// covers, so the only copies a replica lets be decided (ADR 0022).
inline bool IsAuthentic(const SignedTransaction& tx, const crypto::Verifier& verifier,
                        bool benchmark_mode) {
  return IsUnsignedCommand(tx.header, benchmark_mode) || HasValidSignature(tx, verifier);
}

}  // namespace ertr::ledger
