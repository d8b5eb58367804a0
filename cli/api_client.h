#pragma once

// ApiClient: a signed gRPC client of one node's integrator API (proto/ertr/v1/api.proto,
// docs/api.md). Every call is signed with the user's key (proto/api_auth.h). Used by ertrctl and
// by the integration tests; any other language needs only the .proto and Ed25519.

#include <functional>
#include <istream>
#include <memory>
#include <ostream>
#include <string>

#include "common/status.h"
#include "crypto/signing.h"
#include "ertr/v1/api.grpc.pb.h"
#include "ledger/types.h"

namespace ertr::cli {

struct ClientOptions {
  std::string address = "127.0.0.1:26800";
  std::string chain_id;
  std::string tls_ca_file;      // PEM roots; required off loopback
  std::string tls_server_name;  // name to expect in the node's certificate, if not the host
  std::uint32_t upload_chunk = 1u << 20;
};

// Progress of a transfer: bytes so far, total (0 if unknown).
using Progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

struct SubmitResult {
  ertr::v1::SubmitTransactionResponse response;
  crypto::Digest tx_id;
};

struct UploadedRecord {
  ertr::v1::UploadRecordResponse upload;
  SubmitResult submit;
};

class ApiClient {
 public:
  static Result<std::unique_ptr<ApiClient>> Connect(const ClientOptions& options,
                                                    std::unique_ptr<crypto::Signer> signer);

  const crypto::Signer& signer() const { return *signer_; }
  const std::string& chain_id() const { return options_.chain_id; }

  Result<ertr::v1::NodeStatus> GetStatus();
  // Builds, signs (with this client's key) and submits a transaction; waits for its commit.
  Result<SubmitResult> Submit(const ledger::Payload& payload, bool wait = true);
  // The same, signed by another key (a patient's own key on their consent), submitted by this
  // client's user.
  Result<SubmitResult> SubmitSignedBy(const crypto::Signer& author, const ledger::Payload& payload,
                                      bool wait = true);
  // Submits an already signed transaction.
  Result<SubmitResult> SubmitSigned(const ertr::v1::SignedTransaction& tx, bool wait = true);
  // Submits up to 1,000 signed transactions in one call (SubmitTransactions); the call's error
  // only if the call failed as a whole, each transaction's fate in its result.
  Result<ertr::v1::SubmitTransactionsResponse> SubmitBatch(
      const ertr::v1::SubmitTransactionsRequest& req);
  // Streams `in` (size bytes, 0 if unknown) as a record of the patient, signs the prepared
  // SubmitRecord and waits for it to commit.
  Result<UploadedRecord> SubmitRecord(const ledger::Pseudonym& patient, ledger::RecordKind kind,
                                      std::istream& in, std::uint64_t size,
                                      const Progress& progress = {});
  // Streams the record's plaintext into `out`; returns its metadata. On error the bytes written
  // must be discarded (the caller writes to a temporary file).
  Result<ertr::v1::RecordInfo> GetRecord(const ledger::RecordId& record, const std::string& purpose,
                                         std::ostream& out, const Progress& progress = {});
  Result<ertr::v1::ListRecordsResponse> ListRecords(const ledger::Pseudonym& patient);
  Result<ertr::v1::ListGrantsResponse> ListGrants(const ledger::Pseudonym& patient);
  Result<ertr::v1::GetAuditTrailResponse> AuditTrail(const ertr::v1::GetAuditTrailRequest& req);
  Result<ertr::v1::Receipt> GetReceipt(const ertr::v1::GetReceiptRequest& req);
  Result<ertr::v1::TransactionInfo> GetTransaction(const crypto::Digest& tx_id);
  Result<ertr::v1::Block> GetBlock(std::uint64_t height);

 private:
  ApiClient(ClientOptions options, std::unique_ptr<crypto::Signer> signer,
            std::unique_ptr<ertr::v1::Ertr::Stub> stub)
      : options_(std::move(options)), signer_(std::move(signer)), stub_(std::move(stub)) {}
  // Adds the signature headers for `request` to a fresh context.
  template <typename Message>
  Result<std::unique_ptr<grpc::ClientContext>> Context(const char* method, const Message& request);

  ClientOptions options_;
  std::unique_ptr<crypto::Signer> signer_;
  std::unique_ptr<ertr::v1::Ertr::Stub> stub_;
};

// Whether the SubmitRecord a node prepared for an upload (`upload`) is the record that was
// uploaded: this chain, `signer` as signer, the patient and kind asked for, the plaintext sent,
// a deadline (valid_until_height not 0), and the record id, ciphertext, key envelopes and
// validity the response names, in canonical bytes. ApiClient::SubmitRecord signs nothing else;
// Internal, listing what differs, otherwise.
struct UploadedPlaintext {
  ledger::Pseudonym patient;
  ledger::RecordKind kind;
  std::uint64_t plaintext_size = 0;  // bytes sent
  crypto::Digest plaintext_digest;   // their SHA-256
};
Status CheckPreparedRecord(const ertr::v1::UploadRecordResponse& upload,
                           const UploadedPlaintext& asked, const std::string& chain_id,
                           const crypto::PublicKey& signer);

// Builds and signs a transaction for `chain_id` with a fresh random nonce, as SubmitSignedBy sends
// it: signed once, the same bytes may be sent again (a committed one answers its outcome).
Result<ertr::v1::SignedTransaction> SignTransaction(const std::string& chain_id,
                                                    const crypto::Signer& author,
                                                    const ledger::Payload& payload);

// A gRPC status as ours: code and message kept.
Status FromGrpc(const grpc::Status& s);

}  // namespace ertr::cli
