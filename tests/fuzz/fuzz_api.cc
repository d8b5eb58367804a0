// Fuzz target: what arrives with an API call or in a client's files never crashes its decoder:
// the authentication headers (and the replay guard), every API request message as the node parses
// it (protobuf, then each field's conversion and the transaction decoder of SubmitTransaction),
// receipts (`ertrctl receipt verify`), and DICOM kind detection (`ertrctl record submit`, DCMTK
// on the file). The request handlers' state-dependent checks run against a real node in
// tests/node/api_test.cc ("hostile bytes from a registered caller").
#include <unistd.h>

#include <fstream>
#include <map>
#include <string>

#include "cli/dicom_kind.h"
#include "crypto/init.h"
#include "crypto/payload_cipher.h"
#include "ledger/shape.h"
#include "proto/api_auth.h"
#include "proto/api_codec.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "proto/receipt.h"

namespace {

using namespace ertr;

// What the node's handlers do with a request before they look at the state (node_api*.cc).
void ParseRequests(const std::string& raw) {
  if (v1::SubmitTransactionRequest r; r.ParseFromString(raw)) {
    (void)proto::DecodeSignedTransaction(AsBytes(r.transaction().SerializeAsString()));
  }
  if (v1::SubmitTransactionsRequest r; r.ParseFromString(raw)) {
    for (const auto& tx : r.transactions()) {
      if (auto d = proto::DecodeTransaction(AsBytes(tx.SerializeAsString()))) {
        (void)ledger::IsUnsignedCommand(d->signed_tx.header, true);
      }
    }
  }
  if (v1::GetTransactionRequest r; r.ParseFromString(raw)) {
    (void)proto::RequestField<crypto::Digest>(r.tx_id(), "tx_id");
  }
  if (v1::GetRecordRequest r; r.ParseFromString(raw)) {
    (void)proto::RequestField<ledger::RecordId>(r.record_id(), "record_id");
    (void)ledger::IsValidCode(r.purpose());
  }
  if (v1::ListRecordsRequest r; r.ParseFromString(raw)) {
    (void)proto::RequestField<ledger::Pseudonym>(r.patient_pseudonym(), "patient_pseudonym");
  }
  if (v1::ListGrantsRequest r; r.ParseFromString(raw)) {
    (void)proto::RequestField<ledger::Pseudonym>(r.patient_pseudonym(), "patient_pseudonym");
  }
  if (v1::GetAuditTrailRequest r; r.ParseFromString(raw)) {
    (void)proto::RequestField<ledger::Pseudonym>(r.patient_pseudonym(), "patient_pseudonym");
    (void)proto::RequestField<ledger::RecordId>(r.record_id(), "record_id");
  }
  if (v1::GetReceiptRequest r; r.ParseFromString(raw)) {
    (void)proto::RequestField<crypto::Digest>(r.tx_id(), "tx_id");
    (void)proto::RequestField<ledger::RecordId>(r.record_id(), "record_id");
  }
  if (v1::GetBlockRequest r; r.ParseFromString(raw)) (void)r.height();
  if (v1::UploadRecordRequest r; r.ParseFromString(raw) && r.has_start()) {
    (void)proto::RequestField<ledger::Pseudonym>(r.start().patient_pseudonym(), "patient");
    (void)crypto::PayloadCiphertextSize(r.start().plaintext_size());
  }
}

// The scratch file DetectRecordKind reads, removed when the fuzzer exits.
struct ScratchFile {
  std::string path = "/tmp/ertr-fuzz-api-" + std::to_string(::getpid()) + ".dcm";
  ~ScratchFile() { ::unlink(path.c_str()); }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ertr;
  static const bool init = crypto::Init().ok();
  static const auto verifier = crypto::MakeEd25519Verifier();
  static const ledger::Genesis genesis = [] {
    ledger::Genesis g;
    g.chain_id = "ertr-seed";
    auto key = *crypto::SigningKey::FromSeed(Bytes(32, 7));
    g.institutions.push_back({"hosp-a", "A", key.public_key(), {}, {key.public_key()}});
    return g;
  }();
  static proto::ReplayGuard guard(4096);
  static const ScratchFile scratch;
  const std::string& dicom = scratch.path;
  if (!init) return 0;
  ByteSpan in(data, size);

  // Up to four header values, one per line.
  const char* names[] = {proto::kHeaderUserKey, proto::kHeaderTimestamp, proto::kHeaderNonce,
                         proto::kHeaderSignature};
  std::map<std::string, std::string> headers;
  std::string_view text = AsStringView(in);
  for (const char* name : names) {
    const auto nl = text.find('\n');
    headers[name] = std::string(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  auto auth = proto::ParseApiAuthHeaders(headers);
  if (auth) {
    (void)proto::VerifyApiRequest(*verifier, genesis.chain_id, "/ertr.v1.Ertr/GetStatus", *auth, in,
                                  auth->timestamp_ms);
    (void)guard.Check(*auth, auth->timestamp_ms);
  }

  ParseRequests(std::string(AsStringView(in)));
  (void)proto::VerifyReceipt(in, genesis, *verifier);

  {
    std::ofstream f(dicom, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  (void)cli::DetectRecordKind(dicom);
  return 0;
}
