#include "proto/codec.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ertr/v1/block.pb.h"
#include "ertr/v1/transaction.pb.h"
#include "proto/wire_helpers.h"

namespace ertr::proto {

using namespace wire;

namespace {

Result<ledger::TransactionHeader> HeaderFromWire(const ertr::v1::TransactionBody& msg) {
  ledger::TransactionHeader h;
  if (msg.chain_id().empty() || msg.chain_id().size() > crypto::kMaxChainIdLength) {
    return Status::InvalidArgument("transaction field 'chain_id' must be 1..64 bytes, got " +
                                   std::to_string(msg.chain_id().size()));
  }
  h.chain_id = msg.chain_id();
  ERTR_ASSIGN_OR_RETURN(h.signer, Fixed<crypto::PublicKey>(msg.signer(), "transaction.signer"));
  h.nonce = msg.nonce();
  h.valid_until_height = msg.valid_until_height();
  if (msg.payload_case() == ertr::v1::TransactionBody::PAYLOAD_NOT_SET) {
    return Status::InvalidArgument("transaction has no payload; set one of its typed bodies");
  }
  h.payload = static_cast<ledger::PayloadType>(msg.payload_case());
  return h;
}

}  // namespace

namespace {
using google::protobuf::Descriptor;
using google::protobuf::internal::WireFormatLite;

Status NotCanonical(std::string_view what) {
  return Status::InvalidArgument(
      std::string(what) +
      " is not in canonical form: it holds a field this schema does not define, a field twice, "
      "or fields out of order or with default values written out; encode it with the schema in "
      "proto/ertr/v1 as a proto3 encoder does (fields in number order, defaults left out)");
}

// The fields a message type defines, by field number, each with the wire type its serialization
// uses and, for a message field, the table of the message's type.
struct FieldTable {
  struct Field {
    bool defined = false;
    std::uint32_t wire_type = 0;
    const FieldTable* message = nullptr;
  };
  std::vector<Field> by_number;
};

// The table of TransactionBody (and of every message type inside it); built once, read-only after.
const FieldTable& TransactionBodyFields() {
  static const FieldTable* const body = [] {
    std::map<const Descriptor*, FieldTable*> tables;  // the tables are never freed
    std::vector<const Descriptor*> todo;
    const auto table = [&](const Descriptor* d) {
      auto [it, added] = tables.emplace(d, nullptr);
      if (added) {
        it->second = new FieldTable();
        todo.push_back(d);
      }
      return it->second;
    };
    const FieldTable* root = table(ertr::v1::TransactionBody::descriptor());
    while (!todo.empty()) {
      const Descriptor* d = todo.back();
      todo.pop_back();
      FieldTable& t = *tables.at(d);
      for (int i = 0; i < d->field_count(); ++i) {
        const auto* f = d->field(i);
        const auto number = static_cast<std::size_t>(f->number());
        if (t.by_number.size() <= number) t.by_number.resize(number + 1);
        FieldTable::Field& field = t.by_number[number];
        field.defined = true;
        field.wire_type = f->is_packed() ? WireFormatLite::WIRETYPE_LENGTH_DELIMITED
                                         : WireFormatLite::WireTypeForFieldType(
                                               static_cast<WireFormatLite::FieldType>(f->type()));
        if (f->cpp_type() == google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
          field.message = table(f->message_type());
        }
      }
    }
    return root;
  }();
  return *body;
}

// A varint at `p`, moving `p` past it; nullopt if it does not end before `end` (or in 10 bytes).
std::optional<std::uint64_t> ReadVarint(const std::uint8_t*& p, const std::uint8_t* end) {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const std::uint8_t byte = *p++;
    value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return value;
  }
  return std::nullopt;
}

// Whether every field in [p, end), a message of `table`'s type that parsed, is one the type
// defines, with the wire type it is serialized with, at every depth. (The parser keeps other
// fields as unknown ones, and serializing writes them back after the known ones: bytes equal to
// their message's serialization can still hold them.) A plain scan of the wire format: this runs
// for every transaction admitted.
bool DefinesEveryField(const FieldTable& table, const std::uint8_t* p, const std::uint8_t* end) {
  while (p < end) {
    const auto tag = ReadVarint(p, end);
    if (!tag) return false;
    const std::uint64_t number = *tag >> 3;
    const std::uint32_t wire_type = static_cast<std::uint32_t>(*tag & 7);
    if (number >= table.by_number.size()) return false;
    const FieldTable::Field& field = table.by_number[number];
    if (!field.defined || field.wire_type != wire_type) return false;
    switch (wire_type) {
      case WireFormatLite::WIRETYPE_VARINT:
        if (!ReadVarint(p, end)) return false;
        break;
      case WireFormatLite::WIRETYPE_FIXED64:
        if (end - p < 8) return false;
        p += 8;
        break;
      case WireFormatLite::WIRETYPE_FIXED32:
        if (end - p < 4) return false;
        p += 4;
        break;
      case WireFormatLite::WIRETYPE_LENGTH_DELIMITED: {
        const auto length = ReadVarint(p, end);
        if (!length || *length > static_cast<std::uint64_t>(end - p)) return false;
        if (field.message != nullptr && !DefinesEveryField(*field.message, p, p + *length)) {
          return false;
        }
        p += *length;
        break;
      }
      default:  // groups: not in this schema
        return false;
    }
  }
  return true;
}

// Whether `bytes` are the canonical encoding of `body`, which was parsed from them (ledger_codec.h,
// DecodeTransactionToAdmit): its serialization, with no field the schema does not define.
Status CheckCanonicalBody(const ertr::v1::TransactionBody& body, ByteSpan bytes) {
  bool same = body.ByteSizeLong() == bytes.size();
  if (same) {
    thread_local Bytes out;  // its capacity is kept: no allocation per transaction
    out.resize(bytes.size());
    body.SerializeWithCachedSizesToArray(out.data());
    same = std::memcmp(out.data(), bytes.data(), bytes.size()) == 0 &&
           DefinesEveryField(TransactionBodyFields(), bytes.data(), bytes.data() + bytes.size());
  }
  return same ? Status::Ok() : NotCanonical("transaction body");
}

// Whether `bytes` are exactly a SignedTransaction's canonical encoding of `body` and a 64-byte
// signature (fields 1 and 2, once each, in order), which the parser found in them: then no other
// field and no earlier copy of one can be in them either.
Status CheckCanonicalEnvelope(ByteSpan bytes, ByteSpan body) {
  using google::protobuf::io::CodedOutputStream;
  const std::size_t len_size = CodedOutputStream::VarintSize64(body.size());
  const std::size_t at_signature = 1 + len_size + body.size();
  bool same = !body.empty() && bytes.size() == at_signature + 2 + crypto::Signature::kSize &&
              bytes[0] == 0x0a && bytes[at_signature] == 0x12 &&
              bytes[at_signature + 1] == crypto::Signature::kSize &&
              std::memcmp(bytes.data() + 1 + len_size, body.data(), body.size()) == 0;
  if (same) {
    std::uint8_t len[10];
    CodedOutputStream::WriteVarint64ToArray(body.size(), len);
    same = std::memcmp(bytes.data() + 1, len, len_size) == 0;
  }
  return same ? Status::Ok() : NotCanonical("signed transaction");
}
}  // namespace

Result<ledger::TransactionHeader> DecodeTransactionHeader(ByteSpan body) {
  ertr::v1::TransactionBody msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, body, "transaction body", kMaxTransactionBytes));
  return HeaderFromWire(msg);
}

Result<ledger::SignedTransaction> wire::DecodeEnvelope(ByteSpan bytes, const crypto::Digest* id,
                                                       ertr::v1::TransactionBody& body,
                                                       Canonical canonical) {
  ertr::v1::SignedTransaction msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, bytes, "signed transaction", kMaxTransactionBytes));
  ledger::SignedTransaction tx;
  ERTR_ASSIGN_OR_RETURN(tx.signature,
                        Fixed<crypto::Signature>(msg.signature(), "transaction.signature"));
  tx.body = ToBytes(msg.body());
  if (canonical != Canonical::kNotChecked) {
    ERTR_RETURN_IF_ERROR(CheckCanonicalEnvelope(bytes, tx.body));
  }
  ERTR_RETURN_IF_ERROR(Parse(body, tx.body, "transaction body", kMaxTransactionBytes));
  if (canonical == Canonical::kRequired) {
    ERTR_RETURN_IF_ERROR(CheckCanonicalBody(body, tx.body));
  }
  ERTR_ASSIGN_OR_RETURN(tx.header, HeaderFromWire(body));
  tx.id = id != nullptr ? *id : ledger::TransactionId(tx.body);
  return tx;
}

Result<ledger::SignedTransaction> DecodeSignedTransaction(ByteSpan bytes) {
  ertr::v1::TransactionBody body;
  return DecodeEnvelope(bytes, nullptr, body);
}

Result<ledger::SignedTransaction> DecodeCertifiedTransaction(ByteSpan bytes,
                                                             const crypto::Digest& id) {
  ertr::v1::TransactionBody body;
  return DecodeEnvelope(bytes, &id, body, Canonical::kEnvelope);
}

Result<ledger::SignedTransaction> DecodeSignedTransaction(ByteSpan bytes,
                                                          const crypto::Digest& id) {
  ertr::v1::TransactionBody body;
  return DecodeEnvelope(bytes, &id, body);
}

Result<crypto::Digest> PeekTransactionId(ByteSpan bytes) {
  using google::protobuf::internal::WireFormatLite;
  if (bytes.size() > kMaxTransactionBytes) {
    return wire::TooLarge("signed transaction", bytes.size(), kMaxTransactionBytes);
  }
  google::protobuf::io::CodedInputStream in(bytes.data(), static_cast<int>(bytes.size()));
  // SignedTransaction.body is field 1, length-delimited; like the parser, the last one counts,
  // and a field 1 of another wire type is an unknown field.
  constexpr std::uint32_t kBodyTag = (1u << 3) | WireFormatLite::WIRETYPE_LENGTH_DELIMITED;
  ByteSpan body;
  while (const std::uint32_t tag = in.ReadTag()) {
    if (tag == kBodyTag) {
      std::uint32_t length = 0;
      if (!in.ReadVarint32(&length)) break;
      const auto at = static_cast<std::size_t>(in.CurrentPosition());
      if (length > bytes.size() - at || !in.Skip(static_cast<int>(length))) break;
      body = bytes.subspan(at, length);
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      break;
    }
  }
  if (!in.ConsumedEntireMessage() ||
      static_cast<std::size_t>(in.CurrentPosition()) != bytes.size()) {
    return Status::InvalidArgument("signed transaction is not a valid protobuf message");
  }
  return ledger::TransactionId(body);
}

Bytes EncodeSignedTransaction(const ledger::SignedTransaction& tx) {
  ertr::v1::SignedTransaction msg;
  msg.set_body(ToString(tx.body));
  msg.set_signature(ToString(tx.signature.span()));
  return Serialize(msg);
}

namespace wire {

Result<consensus::ProposalHeader> FromWire(const ertr::v1::BlockHeader& msg) {
  consensus::ProposalHeader h;
  if (msg.chain_id().empty() || msg.chain_id().size() > crypto::kMaxChainIdLength) {
    return Status::InvalidArgument("block header field 'chain_id' must be 1..64 bytes");
  }
  if (msg.height() == 0) {
    return Status::InvalidArgument("block header field 'height' is 0; blocks start at 1");
  }
  h.chain_id = msg.chain_id();
  h.height = Height(msg.height());
  ERTR_ASSIGN_OR_RETURN(h.tx_root, Fixed<crypto::Digest>(msg.tx_root(), "header.tx_root"));
  h.time_ms = msg.time_ms();
  h.proposer = ReplicaId(msg.proposer());
  h.tx_count = msg.tx_count();
  return h;
}

void ToWire(const consensus::ProposalHeader& h, ertr::v1::BlockHeader& msg) {
  msg.set_chain_id(h.chain_id);
  msg.set_height(h.height.value());
  msg.set_tx_root(ToString(h.tx_root.span()));
  msg.set_time_ms(h.time_ms);
  msg.set_proposer(h.proposer.value());
  msg.set_tx_count(h.tx_count);
}

}  // namespace wire

Result<consensus::ProposalHeader> DecodeBlockHeader(ByteSpan bytes) {
  ertr::v1::BlockHeader msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, bytes, "block header", kMaxHeaderBytes));
  return FromWire(msg);
}

Bytes EncodeBlockHeader(const consensus::ProposalHeader& h) {
  ertr::v1::BlockHeader msg;
  ToWire(h, msg);
  return Serialize(msg);
}

crypto::Digest TransactionRoot(const std::vector<ledger::SignedTransaction>& txs) {
  std::vector<Bytes> encoded;
  encoded.reserve(txs.size());
  for (const auto& tx : txs) encoded.push_back(EncodeSignedTransaction(tx));
  return consensus::TransactionRoot(encoded);
}

namespace {

Result<consensus::CommitCertificate> FromWire(const ertr::v1::CommitCertificate& msg) {
  consensus::CommitCertificate cert;
  cert.height = Height(msg.height());
  cert.view = View(msg.view());
  ERTR_ASSIGN_OR_RETURN(cert.block_hash,
                        Fixed<crypto::Digest>(msg.block_hash(), "certificate.block_hash"));
  if (msg.votes_size() > 256) {
    return Status::InvalidArgument("commit certificate has " + std::to_string(msg.votes_size()) +
                                   " votes; at most 256 validators exist");
  }
  for (const auto& v : msg.votes()) {
    consensus::CommitVote vote;
    vote.replica = ReplicaId(v.replica());
    ERTR_ASSIGN_OR_RETURN(vote.signature,
                          Fixed<crypto::Signature>(v.signature(), "certificate.votes.signature"));
    cert.votes.push_back(vote);
  }
  return cert;
}

void ToWire(const consensus::CommitCertificate& cert, ertr::v1::CommitCertificate& msg) {
  msg.set_height(cert.height.value());
  msg.set_view(cert.view.value());
  msg.set_block_hash(ToString(cert.block_hash.span()));
  for (const auto& v : cert.votes) {
    auto* w = msg.add_votes();
    w->set_replica(v.replica.value());
    w->set_signature(ToString(v.signature.span()));
  }
}

Result<std::vector<ledger::SignedTransaction>> FromWire(const ertr::v1::BlockBody& body) {
  if (static_cast<std::size_t>(body.transactions_size()) > kMaxBlockTransactions) {
    return TooMany("block transaction", static_cast<std::size_t>(body.transactions_size()),
                   kMaxBlockTransactions);
  }
  std::vector<ledger::SignedTransaction> txs;
  txs.reserve(static_cast<std::size_t>(body.transactions_size()));
  for (int i = 0; i < body.transactions_size(); ++i) {
    auto tx = DecodeSignedTransaction(AsBytes(body.transactions(i)));
    if (!tx) return tx.error().WithContext("block transaction " + std::to_string(i));
    txs.push_back(std::move(*tx));
  }
  return txs;
}

void ToWire(const std::vector<ledger::SignedTransaction>& txs, ertr::v1::BlockBody& body) {
  for (const auto& tx : txs) {
    Bytes b = EncodeSignedTransaction(tx);
    body.add_transactions(ToString(b));
  }
}

}  // namespace

Result<consensus::CommitCertificate> DecodeCommitCertificate(ByteSpan bytes) {
  ertr::v1::CommitCertificate msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, bytes, "commit certificate", 64 * 1024));
  return FromWire(msg);
}

Bytes EncodeCommitCertificate(const consensus::CommitCertificate& cert) {
  ertr::v1::CommitCertificate msg;
  ToWire(cert, msg);
  return Serialize(msg);
}

Result<std::vector<ledger::SignedTransaction>> DecodeBlockBody(ByteSpan bytes) {
  ertr::v1::BlockBody msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, bytes, "block body", kMaxBlockBytes));
  return FromWire(msg);
}

Bytes EncodeBlockBody(const std::vector<ledger::SignedTransaction>& txs) {
  ertr::v1::BlockBody msg;
  ToWire(txs, msg);
  return Serialize(msg);
}

namespace {

// Appends protobuf field `field` (wire type LEN) holding `value`, as the serializer writes it.
void AppendLengthDelimited(Bytes& out, std::uint32_t field, ByteSpan value) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  const auto tag = static_cast<std::uint32_t>(
      WireFormatLite::MakeTag(static_cast<int>(field), WireFormatLite::WIRETYPE_LENGTH_DELIMITED));
  const auto size = static_cast<std::uint32_t>(value.size());
  const std::size_t at = out.size();
  out.resize(at + CodedOutputStream::VarintSize32(tag) + CodedOutputStream::VarintSize32(size) +
             value.size());
  std::uint8_t* p = CodedOutputStream::WriteVarint32ToArray(tag, out.data() + at);
  p = CodedOutputStream::WriteVarint32ToArray(size, p);
  if (!value.empty()) std::memcpy(p, value.data(), value.size());
}

}  // namespace

Bytes EncodeBlockBody(const std::vector<consensus::Transaction>& txs) {
  std::size_t size = 0;
  for (const auto& tx : txs) size += tx.bytes.size() + 8;
  Bytes out;
  out.reserve(size);
  for (const auto& tx : txs) AppendLengthDelimited(out, 1, tx.bytes);  // BlockBody.transactions
  return out;
}

namespace wire {
Result<std::vector<consensus::Transaction>> TransactionsWithIds(
    const google::protobuf::RepeatedPtrField<std::string>& raw,
    const std::function<Result<crypto::Digest>(ByteSpan)>& tx_id, std::size_t max,
    std::string_view what) {
  if (static_cast<std::size_t>(raw.size()) > max) {
    return TooMany(what, static_cast<std::size_t>(raw.size()), max);
  }
  std::vector<consensus::Transaction> out;
  out.reserve(static_cast<std::size_t>(raw.size()));
  for (int i = 0; i < raw.size(); ++i) {
    consensus::Transaction tx;
    tx.bytes = ToBytes(raw.Get(i));
    auto id = tx_id(tx.bytes);
    if (!id) return id.error().WithContext(std::string(what) + " " + std::to_string(i));
    tx.id = *id;
    out.push_back(std::move(tx));
  }
  return out;
}
}  // namespace wire

Result<std::vector<consensus::Transaction>> DecodeBlockBodyTransactions(ByteSpan bytes) {
  ertr::v1::BlockBody msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, bytes, "block body", kMaxBlockBytes));
  return TransactionsWithIds(msg.transactions(), PeekTransactionId, kMaxBlockTransactions,
                             "block transaction");
}

Result<Block> DecodeBlock(ByteSpan bytes) {
  ertr::v1::Block msg;
  ERTR_RETURN_IF_ERROR(Parse(msg, bytes, "block", kMaxBlockBytes));
  Block b;
  ERTR_ASSIGN_OR_RETURN(b.header, FromWire(msg.header()));
  b.hash = consensus::ProposalDigest(b.header);
  ERTR_ASSIGN_OR_RETURN(b.transactions, FromWire(msg.body()));
  if (b.transactions.size() != b.header.tx_count) {
    return Status::InvalidArgument("block " + b.header.height.ToString() + " header says " +
                                   std::to_string(b.header.tx_count) + " transactions, body has " +
                                   std::to_string(b.transactions.size()));
  }
  // The root over the bytes as they came, kept for consensus: the certificate covers them all
  // (ADR 0038).
  b.transaction_bytes.reserve(b.transactions.size());
  for (const auto& tx : msg.body().transactions()) b.transaction_bytes.push_back(ToBytes(tx));
  if (consensus::TransactionRoot(b.transaction_bytes) != b.header.tx_root) {
    return Status::InvalidArgument("block " + b.header.height.ToString() +
                                   " body does not match the header's tx_root");
  }
  ERTR_ASSIGN_OR_RETURN(b.certificate, FromWire(msg.certificate()));
  if (b.certificate.block_hash != b.hash || b.certificate.height != b.header.height) {
    return Status::InvalidArgument("block " + b.header.height.ToString() +
                                   " carries a commit certificate for another block");
  }
  ERTR_ASSIGN_OR_RETURN(b.state_root, Fixed<crypto::Digest>(msg.state_root(), "block.state_root"));
  return b;
}

Bytes EncodeBlock(ByteSpan header, ByteSpan body, ByteSpan certificate) {
  const crypto::Digest no_root;
  Bytes out;
  out.reserve(header.size() + body.size() + certificate.size() + 48);
  // ertr.v1.Block: header = 1, body = 2, certificate = 3, state_root = 4.
  AppendLengthDelimited(out, 1, header);
  AppendLengthDelimited(out, 2, body);
  AppendLengthDelimited(out, 3, certificate);
  AppendLengthDelimited(out, 4, no_root.span());
  return out;
}

Bytes EncodeBlock(const Block& block) {
  ertr::v1::Block msg;
  ToWire(block.header, *msg.mutable_header());
  ToWire(block.transactions, *msg.mutable_body());
  ToWire(block.certificate, *msg.mutable_certificate());
  msg.set_state_root(ToString(block.state_root.span()));
  return Serialize(msg);
}

}  // namespace ertr::proto
