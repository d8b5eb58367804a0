#pragma once

// Internal to proto/: parsing and serialisation helpers shared by the codecs.

#include <algorithm>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "consensus/proposal.h"
#include "ertr/v1/block.pb.h"
#include "ertr/v1/transaction.pb.h"
#include "ledger/transaction.h"

namespace ertr::proto::wire {

inline Status TooLarge(std::string_view what, std::size_t size, std::size_t max) {
  return Status::InvalidArgument(std::string(what) + " is " + std::to_string(size) +
                                 " bytes; the limit is " + std::to_string(max));
}
// The same for a list: "<what> count is 4097; the limit is 4096".
inline Status TooMany(std::string_view what, std::size_t count, std::size_t max) {
  return Status::InvalidArgument(std::string(what) + " count is " + std::to_string(count) +
                                 "; the limit is " + std::to_string(max));
}

template <typename Message>
Status Parse(Message& msg, ByteSpan bytes, std::string_view what, std::size_t max) {
  if (bytes.size() > max) return TooLarge(what, bytes.size(), max);
  if (!msg.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) {
    return Status::InvalidArgument(std::string(what) + " is not a valid protobuf message");
  }
  return Status::Ok();
}

template <typename T>
Result<T> Fixed(const std::string& raw, std::string_view field) {
  return T::FromSpan(AsBytes(raw), field);
}

template <typename Message>
Bytes Serialize(const Message& msg) {
  Bytes out(msg.ByteSizeLong());
  msg.SerializeToArray(out.data(), static_cast<int>(out.size()));
  return out;
}

// Block header <-> wire (codec.cc).
Result<consensus::ProposalHeader> FromWire(const ertr::v1::BlockHeader& msg);
void ToWire(const consensus::ProposalHeader& h, ertr::v1::BlockHeader& msg);

// Whether decoding refuses bytes that are not the canonical encoding of what they decode to: none,
// only the envelope around the body, or the envelope and the body.
enum class Canonical { kNotChecked, kEnvelope, kRequired };

// A SignedTransaction's envelope with its body parsed once (`body` receives it, for the typed
// payload). `id`, when not null, is taken as the transaction's id instead of hashing the body:
// only ever an id this node computed from these same bytes (PeekTransactionId, or the id a
// consensus::Transaction carries). With Canonical::kRequired, bytes that are not canonical
// (codec.h, DecodeTransactionToAdmit) are refused.
Result<ledger::SignedTransaction> DecodeEnvelope(ByteSpan bytes, const crypto::Digest* id,
                                                 ertr::v1::TransactionBody& body,
                                                 Canonical canonical = Canonical::kNotChecked);

// Transactions as they came (a repeated bytes field of a proposal or a block body), each with the
// id `tx_id` computes from its bytes; at most `max` of them. `what` names one in errors
// ("proposal transaction"). (codec.cc)
Result<std::vector<consensus::Transaction>> TransactionsWithIds(
    const google::protobuf::RepeatedPtrField<std::string>& raw,
    const std::function<Result<crypto::Digest>(ByteSpan)>& tx_id, std::size_t max,
    std::string_view what);

}  // namespace ertr::proto::wire
