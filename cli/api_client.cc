#include "cli/api_client.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "common/host.h"
#include "crypto/hash.h"
#include "crypto/secure_buffer.h"
#include "crypto/sha256.h"
#include "crypto/tls_pem.h"
#include "proto/api_auth.h"
#include "proto/codec.h"
#include "proto/grpc_status.h"
#include "proto/ledger_codec.h"

namespace ertr::cli {

namespace v1 = ertr::v1;

namespace {

std::uint64_t NowMs() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

bool IsLoopback(const std::string& address) {
  const auto colon = address.rfind(':');
  return IsLoopbackHost(std::string_view(address).substr(0, colon));
}

}  // namespace

Status FromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::Ok();
  const StatusCode code = proto::FromGrpcCode(s.error_code());
  std::string msg = s.error_message();
  if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
      msg.find("is not in peer certificate") != std::string::npos) {
    msg +=
        " (the node's TLS certificate does not name the address dialled: pass --tls-server-name "
        "with a name the certificate holds)";
  } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
             (msg.find("andshake failed") != std::string::npos ||
              msg.find("certificate verify failed") != std::string::npos)) {
    msg +=
        " (the TLS handshake with the node failed: does its API serve TLS, is --tls-ca the "
        "CA that signed its certificate, and does --tls-server-name match a name in it?)";
  } else if (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
             msg.find("connect") != std::string::npos) {
    msg += " (is the node running, is --node right, and does its API need --tls-ca?)";
  }
  return Status::WithCode(code, msg);
}

Result<std::unique_ptr<ApiClient>> ApiClient::Connect(const ClientOptions& options,
                                                      std::unique_ptr<crypto::Signer> signer) {
  if (options.chain_id.empty()) {
    return Status::InvalidArgument("the chain id is not known: pass --chain-id or --genesis");
  }
  if (auto host_port = ParseHostPort(options.address, "--node", "127.0.0.1:26800"); !host_port) {
    return host_port.error();
  }
  std::shared_ptr<grpc::ChannelCredentials> creds;
  if (!options.tls_ca_file.empty()) {
    std::ifstream in(options.tls_ca_file, std::ios::binary);
    std::stringstream pem;
    if (!in || !(pem << in.rdbuf())) {
      return Status::NotFound("cannot read the TLS CA file " + options.tls_ca_file);
    }
    ERTR_RETURN_IF_ERROR(
        crypto::CheckPemCertificates(pem.str(), options.tls_ca_file + " (--tls-ca)"));
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = pem.str();
    creds = grpc::SslCredentials(ssl);
  } else if (IsLoopback(options.address)) {
    creds = grpc::InsecureChannelCredentials();
  } else {
    return Status::InvalidArgument("node " + options.address +
                                   " is not on this machine: pass --tls-ca with the CA "
                                   "certificate of its API (records never cross a network "
                                   "unencrypted)");
  }
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(16 << 20);
  // The node is the integrator's own hospital's: after it restarts, reconnect within a second
  // rather than after gRPC's default backoff (which grows to two minutes).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  // Despite its name, gRPC takes this as the time one connection attempt may last (its default
  // is 20 s), not as a backoff. At 100 ms, a node that took longer to answer a new connection
  // with its HTTP/2 settings (a busy machine) failed the call at once: "connection attempt timed
  // out before receiving SETTINGS frame". A refused connection still fails at once.
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 5000);
  std::string address = options.address;
  std::string server_name = options.tls_server_name;
  // "localhost" is this machine: dial 127.0.0.1 directly (gRPC's own DNS client cannot resolve
  // it on machines without a DNS server), still expecting "localhost" in a TLS certificate.
  if (address.rfind("localhost:", 0) == 0) {
    address = "127.0.0.1" + address.substr(9);
    if (server_name.empty() && !options.tls_ca_file.empty()) server_name = "localhost";
  }
  if (!server_name.empty()) args.SetSslTargetNameOverride(server_name);
  auto channel = grpc::CreateCustomChannel(address, creds, args);
  return std::unique_ptr<ApiClient>(
      new ApiClient(options, std::move(signer), v1::Ertr::NewStub(channel)));
}

template <typename Message>
Result<std::unique_ptr<grpc::ClientContext>> ApiClient::Context(const char* method,
                                                                const Message& request) {
  std::string bytes;
  request.SerializeToString(&bytes);
  ERTR_ASSIGN_OR_RETURN(auto auth, proto::SignApiRequest(*signer_, options_.chain_id,
                                                         std::string("/ertr.v1.Ertr/") + method,
                                                         NowMs(), AsBytes(bytes)));
  auto ctx = std::make_unique<grpc::ClientContext>();
  for (const auto& [k, v] : proto::ApiAuthHeaders(auth)) ctx->AddMetadata(k, v);
  return ctx;
}

Result<v1::NodeStatus> ApiClient::GetStatus() {
  v1::GetStatusRequest req;
  v1::NodeStatus resp;
  ERTR_ASSIGN_OR_RETURN(auto ctx, Context("GetStatus", req));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  ERTR_RETURN_IF_ERROR(FromGrpc(stub_->GetStatus(ctx.get(), req, &resp)));
  return resp;
}

Result<SubmitResult> ApiClient::SubmitSigned(const v1::SignedTransaction& tx, bool wait) {
  v1::SubmitTransactionRequest req;
  *req.mutable_transaction() = tx;
  req.set_wait_for_commit(wait);
  SubmitResult out;
  out.tx_id = ledger::TransactionId(AsBytes(tx.body()));
  ERTR_ASSIGN_OR_RETURN(auto ctx, Context("SubmitTransaction", req));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  auto s = FromGrpc(stub_->SubmitTransaction(ctx.get(), req, &out.response));
  if (s.code() == StatusCode::kUnavailable &&
      s.message().find("may still commit") == std::string::npos) {
    // The connection went (the node stopped, say) after the transaction may have reached it: a
    // second copy would be a second record. (The node's own timeout says this itself.)
    s = Status::Unavailable(s.message() +
                            "; the transaction may have reached the node and may still commit: "
                            "ask `ertrctl receipt get --tx " +
                            out.tx_id.ToHex() + " --out FILE` before sending it again");
  }
  if (!s.ok()) return s.WithContext("transaction " + out.tx_id.ToHex());
  return out;
}

Result<v1::SubmitTransactionsResponse> ApiClient::SubmitBatch(
    const v1::SubmitTransactionsRequest& req) {
  v1::SubmitTransactionsResponse out;
  ERTR_ASSIGN_OR_RETURN(auto ctx, Context("SubmitTransactions", req));
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  ERTR_RETURN_IF_ERROR(FromGrpc(stub_->SubmitTransactions(ctx.get(), req, &out)));
  return out;
}

Result<SubmitResult> ApiClient::Submit(const ledger::Payload& payload, bool wait) {
  return SubmitSignedBy(*signer_, payload, wait);
}

Result<v1::SignedTransaction> SignTransaction(const std::string& chain_id,
                                              const crypto::Signer& author,
                                              const ledger::Payload& payload) {
  ledger::TransactionHeader h;
  h.chain_id = chain_id;
  h.signer = author.public_key();
  h.nonce = crypto::RandomU64();
  ERTR_ASSIGN_OR_RETURN(auto tx, proto::MakeTransaction(h, payload, author));
  v1::SignedTransaction msg;
  msg.set_body(std::string(AsStringView(tx.signed_tx.body)));
  msg.set_signature(std::string(AsStringView(tx.signed_tx.signature.span())));
  return msg;
}

Result<SubmitResult> ApiClient::SubmitSignedBy(const crypto::Signer& author,
                                               const ledger::Payload& payload, bool wait) {
  ERTR_ASSIGN_OR_RETURN(auto msg, SignTransaction(options_.chain_id, author, payload));
  return SubmitSigned(msg, wait);
}

Result<UploadedRecord> ApiClient::SubmitRecord(const ledger::Pseudonym& patient,
                                               ledger::RecordKind kind, std::istream& in,
                                               std::uint64_t size, const Progress& progress) {
  v1::UploadRecordRequest start;
  start.mutable_start()->set_patient_pseudonym(std::string(AsStringView(patient.span())));
  start.mutable_start()->set_kind(static_cast<v1::RecordKind>(kind));
  start.mutable_start()->set_plaintext_size(size);
  ERTR_ASSIGN_OR_RETURN(auto ctx, Context("UploadRecord", start));
  UploadedRecord out;
  auto writer = stub_->UploadRecord(ctx.get(), &out.upload);
  crypto::Sha256Hasher hasher;
  std::uint64_t sent = 0;
  bool ok = writer->Write(start);
  v1::UploadRecordRequest chunk;
  std::string* buf = chunk.mutable_chunk();
  // No larger than the record needs (plus a little, to see its end): the buffer is zero-filled on
  // growth and wiped at the end, which for a 2 KiB record in 1 MiB chunks cost 3 MiB of memset.
  const std::uint64_t most = std::max<std::uint32_t>(options_.upload_chunk, 1);
  const auto chunk_bytes = static_cast<std::size_t>(
      size != 0 && size < most
          ? std::min<std::uint64_t>(std::max<std::uint64_t>(size + 1, 4096), most)
          : most);
  while (ok && in) {
    buf->resize(chunk_bytes);
    in.read(buf->data(), static_cast<std::streamsize>(buf->size()));
    buf->resize(static_cast<std::size_t>(in.gcount()));
    if (buf->empty()) break;
    hasher.Update(AsBytes(*buf));
    ok = writer->Write(chunk);
    sent += buf->size();
    if (progress) progress(sent, size);
  }
  buf->resize(buf->capacity());  // the last chunk's bytes may sit past size()
  crypto::Wipe(*buf);
  if (ok && in.bad()) {
    ctx->TryCancel();
    return Status::IoError("reading the record file failed after " + std::to_string(sent) +
                           " bytes");
  }
  crypto::Digest sent_digest;
  if (ok) {
    v1::UploadRecordRequest end;
    sent_digest = hasher.Finish();
    end.mutable_end()->set_plaintext_digest(std::string(AsStringView(sent_digest.span())));
    ok = writer->Write(end);
  }
  writer->WritesDone();
  ERTR_RETURN_IF_ERROR(FromGrpc(writer->Finish()));
  // Sign the SubmitRecord the node prepared (it names this key as signer), once it is checked to
  // be the one asked for: a faulty node must not get this key's signature on something else.
  ERTR_RETURN_IF_ERROR(CheckPreparedRecord(out.upload, {patient, kind, sent, sent_digest},
                                           options_.chain_id, signer_->public_key()));
  ERTR_ASSIGN_OR_RETURN(auto sig,
                        signer_->Sign(crypto::SigningDomain::kTransaction, options_.chain_id,
                                      AsBytes(out.upload.transaction_body())));
  v1::SignedTransaction tx;
  tx.set_body(out.upload.transaction_body());
  tx.set_signature(std::string(AsStringView(sig.span())));
  auto submitted = SubmitSigned(tx, true);
  if (!submitted) {
    // Uploaded, and perhaps committed after all: the caller needs the record's id to look.
    return submitted.error().WithContext("record " + ToHex(AsBytes(out.upload.record_id())));
  }
  out.submit = std::move(*submitted);
  return out;
}

Status CheckPreparedRecord(const v1::UploadRecordResponse& upload, const UploadedPlaintext& asked,
                           const std::string& chain_id, const crypto::PublicKey& signer) {
  const ledger::Pseudonym& patient = asked.patient;
  const ledger::RecordKind kind = asked.kind;
  ledger::SignedTransaction unsigned_tx;
  unsigned_tx.body = ToBytes(upload.transaction_body());
  auto typed =
      proto::DecodeTransactionToAdmit(proto::EncodeSignedTransaction(unsigned_tx), nullptr);
  std::vector<std::string> problems;
  const ledger::SubmitRecord* r = nullptr;
  if (!typed) {
    problems.push_back(typed.error().message());
  } else {
    const ledger::TransactionHeader& h = typed->signed_tx.header;
    if (h.chain_id != chain_id) {
      problems.push_back("chain_id is '" + h.chain_id + "', not '" + chain_id + "'");
    }
    if (h.signer != signer) problems.push_back("the signer is not this key");
    if (h.valid_until_height != upload.valid_until_height()) {
      problems.push_back("valid_until_height differs from the response's");
    }
    if (h.valid_until_height == 0) {
      // Signed without a deadline, it could be submitted at any time later, after a retry
      // through another node has made a second record.
      problems.push_back("valid_until_height is 0 (no deadline)");
    }
    if (typed->payload) r = std::get_if<ledger::SubmitRecord>(&*typed->payload);
    if (r == nullptr) problems.push_back("the payload is not a SubmitRecord");
  }
  if (r != nullptr) {
    if (AsStringView(r->record_id.span()) != upload.record_id()) {
      problems.push_back("record_id differs from the response's");
    }
    if (r->patient != patient) problems.push_back("the patient is not the one uploaded for");
    if (r->kind != kind) problems.push_back("the kind is not the one uploaded");
    if (AsStringView(r->ciphertext_digest.span()) != upload.ciphertext_digest() ||
        r->ciphertext_size != upload.ciphertext_size()) {
      problems.push_back("the ciphertext differs from the response's");
    }
    std::vector<std::string> named(upload.envelope_institutions().begin(),
                                   upload.envelope_institutions().end());
    std::vector<std::string> sealed;
    for (const auto& e : r->envelopes) sealed.push_back(e.institution_id);
    std::sort(named.begin(), named.end());
    std::sort(sealed.begin(), sealed.end());
    if (named != sealed) problems.push_back("the key envelopes differ from envelope_institutions");
  }
  if (upload.plaintext_size() != asked.plaintext_size ||
      upload.plaintext_digest() != AsStringView(asked.plaintext_digest.span())) {
    problems.push_back("the node reports another plaintext than the one sent");
  }
  if (problems.empty()) return Status::Ok();
  std::string all;
  for (const auto& p : problems) all += (all.empty() ? "" : "; ") + p;
  return Status::Internal(
      "the node's prepared transaction is not the record that was uploaded (" + all +
      "); nothing was signed or submitted. The node is faulty or compromised: tell its operator, "
      "and upload through another node of your institution if there is one");
}

Result<v1::RecordInfo> ApiClient::GetRecord(const ledger::RecordId& record,
                                            const std::string& purpose, std::ostream& out,
                                            const Progress& progress) {
  v1::GetRecordRequest req;
  req.set_record_id(std::string(AsStringView(record.span())));
  req.set_purpose(purpose);
  ERTR_ASSIGN_OR_RETURN(auto ctx, Context("GetRecord", req));
  auto reader = stub_->GetRecord(ctx.get(), req);
  v1::GetRecordResponse msg;
  v1::RecordInfo info;
  std::uint64_t received = 0;
  while (reader->Read(&msg)) {
    if (msg.has_info()) {
      info = msg.info();
      continue;
    }
    out.write(msg.chunk().data(), static_cast<std::streamsize>(msg.chunk().size()));
    received += msg.chunk().size();
    crypto::Wipe(*msg.mutable_chunk());
    if (!out) {
      ctx->TryCancel();
      reader->Finish();
      return Status::IoError("writing the record failed after " + std::to_string(received) +
                             " bytes (disk full?)");
    }
    if (progress) progress(received, 0);
  }
  ERTR_RETURN_IF_ERROR(FromGrpc(reader->Finish()));
  return info;
}

#define ERTR_UNARY(Name, Req, Resp, req_expr)                                     \
  Req req = req_expr;                                                             \
  Resp resp;                                                                      \
  ERTR_ASSIGN_OR_RETURN(auto ctx, Context(#Name, req));                           \
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30)); \
  ERTR_RETURN_IF_ERROR(FromGrpc(stub_->Name(ctx.get(), req, &resp)));             \
  return resp

Result<v1::ListRecordsResponse> ApiClient::ListRecords(const ledger::Pseudonym& patient) {
  v1::ListRecordsRequest r;
  r.set_patient_pseudonym(std::string(AsStringView(patient.span())));
  ERTR_UNARY(ListRecords, v1::ListRecordsRequest, v1::ListRecordsResponse, r);
}

Result<v1::ListGrantsResponse> ApiClient::ListGrants(const ledger::Pseudonym& patient) {
  v1::ListGrantsRequest r;
  r.set_patient_pseudonym(std::string(AsStringView(patient.span())));
  ERTR_UNARY(ListGrants, v1::ListGrantsRequest, v1::ListGrantsResponse, r);
}

Result<v1::GetAuditTrailResponse> ApiClient::AuditTrail(const v1::GetAuditTrailRequest& r) {
  ERTR_UNARY(GetAuditTrail, v1::GetAuditTrailRequest, v1::GetAuditTrailResponse, r);
}

Result<v1::Receipt> ApiClient::GetReceipt(const v1::GetReceiptRequest& r) {
  ERTR_UNARY(GetReceipt, v1::GetReceiptRequest, v1::Receipt, r);
}

Result<v1::TransactionInfo> ApiClient::GetTransaction(const crypto::Digest& tx_id) {
  v1::GetTransactionRequest r;
  r.set_tx_id(std::string(AsStringView(tx_id.span())));
  ERTR_UNARY(GetTransaction, v1::GetTransactionRequest, v1::TransactionInfo, r);
}

Result<v1::Block> ApiClient::GetBlock(std::uint64_t height) {
  v1::GetBlockRequest r;
  r.set_height(height);
  ERTR_UNARY(GetBlock, v1::GetBlockRequest, v1::Block, r);
}

#undef ERTR_UNARY

}  // namespace ertr::cli
