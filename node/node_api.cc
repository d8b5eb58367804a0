// Node: the integrator gRPC API (proto/ertr/v1/api.proto, docs/api.md, ADR 0007).
//
// Threads: gRPC's callback threads authenticate each call (signature, clock, replay) and move
// payload bytes (encrypting uploads into the blob store, decrypting reads out of it); everything
// that reads or changes node state runs on the io thread through PostApi (ADR 0006).

#include <grpcpp/grpcpp.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <fstream>
#include <sstream>

#include "common/version.h"
#include "crypto/envelope.h"
#include "crypto/secure_buffer.h"
#include "ledger/queries.h"
#include "ledger/shape.h"
#include "node/api_internal.h"
#include "node/node.h"
#include "node/testnet.h"
#include "proto/api_auth.h"
#include "proto/api_codec.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "proto/receipt.h"

namespace ertr::node {

namespace v1 = ertr::v1;

namespace {

constexpr std::size_t kMaxUploadChunk = 4u << 20;
constexpr std::size_t kReadPiece = 256u << 10;  // ciphertext bytes decrypted per streamed message
constexpr int kMaxConcurrentUploads = 16;

grpc::StatusCode GrpcCode(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return grpc::StatusCode::OK;
    case StatusCode::kInvalidArgument:
      return grpc::StatusCode::INVALID_ARGUMENT;
    case StatusCode::kNotFound:
      return grpc::StatusCode::NOT_FOUND;
    case StatusCode::kAlreadyExists:
      return grpc::StatusCode::ALREADY_EXISTS;
    case StatusCode::kPermissionDenied:
      return grpc::StatusCode::PERMISSION_DENIED;
    case StatusCode::kUnauthenticated:
      return grpc::StatusCode::UNAUTHENTICATED;
    case StatusCode::kFailedPrecondition:
      return grpc::StatusCode::FAILED_PRECONDITION;
    case StatusCode::kResourceExhausted:
      return grpc::StatusCode::RESOURCE_EXHAUSTED;
    case StatusCode::kUnavailable:
      return grpc::StatusCode::UNAVAILABLE;
    case StatusCode::kDataLoss:
      return grpc::StatusCode::DATA_LOSS;
    case StatusCode::kIoError:
    case StatusCode::kInternal:
      return grpc::StatusCode::INTERNAL;
  }
  return grpc::StatusCode::INTERNAL;
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(GrpcCode(s.code()), s.message());
}

const grpc::Status kShuttingDown(grpc::StatusCode::UNAVAILABLE,
                                 "the node is shutting down; retry when it is back");

std::string Method(const char* name) { return std::string("/ertr.v1.Ertr/") + name; }

}  // namespace

using namespace api;

// ---------------------------------------------------------------------------------------------
// The gRPC service: authentication and threading.

class Node::ApiService final : public v1::Ertr::CallbackService {
 public:
  explicit ApiService(Node& node) : n_(node) {}

  // Checks the call's signature headers over `request` (on the gRPC thread).
  template <typename Message>
  Result<proto::ApiAuth> Authenticate(grpc::CallbackServerContext* ctx, const char* name,
                                      const Message& request) {
    std::map<std::string, std::string> headers;
    for (const auto& [k, v] : ctx->client_metadata()) {
      headers.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
    ERTR_ASSIGN_OR_RETURN(auto auth, proto::ParseApiAuthHeaders(headers));
    std::string bytes;
    request.SerializeToString(&bytes);
    const auto now = WallClockMs();
    ERTR_RETURN_IF_ERROR(proto::VerifyApiRequest(*n_.verifier_, n_.chain_id_, Method(name), auth,
                                                 AsBytes(bytes), now));
    std::lock_guard lock(replay_mu_);
    ERTR_RETURN_IF_ERROR(replay_.Check(auth, now));
    return auth;
  }

  // A unary call: authenticate here, then run `fn(caller, done)` on the io thread; `done` may be
  // called later (a commit wait) but exactly once.
  template <typename Request, typename Fn>
  grpc::ServerUnaryReactor* Unary(grpc::CallbackServerContext* ctx, const char* name,
                                  const Request* request, Fn fn) {
    auto* reactor = ctx->DefaultReactor();
    auto auth = Authenticate(ctx, name, *request);
    if (!auth) {
      reactor->Finish(ToGrpc(auth.error()));
      return reactor;
    }
    n_.PostApi(
        [this, reactor, user = auth->user, fn] {
          auto caller = n_.ApiCaller(user);
          if (!caller) return reactor->Finish(ToGrpc(caller.error()));
          fn(*caller, [reactor](const Status& s) { reactor->Finish(ToGrpc(s)); });
        },
        [reactor] { reactor->Finish(kShuttingDown); });
    return reactor;
  }

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* ctx,
                                      const v1::GetStatusRequest* req,
                                      v1::NodeStatus* resp) override {
    return Unary(ctx, "GetStatus", req, [this, resp](const ledger::UserState&, auto done) {
      n_.ApiStatus(*resp);
      done(Status::Ok());
    });
  }

  grpc::ServerUnaryReactor* SubmitTransaction(grpc::CallbackServerContext* ctx,
                                              const v1::SubmitTransactionRequest* req,
                                              v1::SubmitTransactionResponse* resp) override {
    return Unary(ctx, "SubmitTransaction", req,
                 [this, req, resp](const ledger::UserState&, auto done) {
                   n_.ApiSubmit(*req, *resp, std::move(done));
                 });
  }

  grpc::ServerUnaryReactor* GetTransaction(grpc::CallbackServerContext* ctx,
                                           const v1::GetTransactionRequest* req,
                                           v1::TransactionInfo* resp) override {
    return Unary(ctx, "GetTransaction", req,
                 [this, req, resp](const ledger::UserState&, auto done) {
                   done(n_.ApiGetTransaction(*req, *resp));
                 });
  }

  grpc::ServerUnaryReactor* ListRecords(grpc::CallbackServerContext* ctx,
                                        const v1::ListRecordsRequest* req,
                                        v1::ListRecordsResponse* resp) override {
    return Unary(ctx, "ListRecords", req,
                 [this, req, resp](const ledger::UserState& caller, auto done) {
                   done(n_.ApiListRecords(caller, *req, *resp));
                 });
  }

  grpc::ServerUnaryReactor* ListGrants(grpc::CallbackServerContext* ctx,
                                       const v1::ListGrantsRequest* req,
                                       v1::ListGrantsResponse* resp) override {
    return Unary(ctx, "ListGrants", req,
                 [this, req, resp](const ledger::UserState& caller, auto done) {
                   done(n_.ApiListGrants(caller, *req, *resp));
                 });
  }

  grpc::ServerUnaryReactor* GetAuditTrail(grpc::CallbackServerContext* ctx,
                                          const v1::GetAuditTrailRequest* req,
                                          v1::GetAuditTrailResponse* resp) override {
    return Unary(ctx, "GetAuditTrail", req,
                 [this, req, resp](const ledger::UserState& caller, auto done) {
                   done(n_.ApiAuditTrail(caller, *req, *resp));
                 });
  }

  grpc::ServerUnaryReactor* GetReceipt(grpc::CallbackServerContext* ctx,
                                       const v1::GetReceiptRequest* req,
                                       v1::Receipt* resp) override {
    return Unary(ctx, "GetReceipt", req, [this, req, resp](const ledger::UserState&, auto done) {
      done(n_.ApiGetReceipt(*req, *resp));
    });
  }

  grpc::ServerUnaryReactor* GetBlock(grpc::CallbackServerContext* ctx,
                                     const v1::GetBlockRequest* req, v1::Block* resp) override {
    return Unary(ctx, "GetBlock", req, [this, req, resp](const ledger::UserState&, auto done) {
      done(n_.ApiGetBlock(*req, *resp));
    });
  }

  grpc::ServerReadReactor<v1::UploadRecordRequest>* UploadRecord(
      grpc::CallbackServerContext* ctx, v1::UploadRecordResponse* resp) override;
  grpc::ServerWriteReactor<v1::GetRecordResponse>* GetRecord(
      grpc::CallbackServerContext* ctx, const v1::GetRecordRequest* req) override;

  Node& n_;
  std::mutex replay_mu_;
  proto::ReplayGuard replay_;  // guarded by replay_mu_
  std::atomic<int> uploads_{0};
};

// ---------------------------------------------------------------------------------------------
// UploadRecord: plaintext in, encrypted into the blob store as it arrives.

namespace {

class UploadReactor final : public grpc::ServerReadReactor<v1::UploadRecordRequest> {
 public:
  using Begin = std::function<void(const proto::ApiAuth&, const v1::UploadStart&,
                                   std::function<void(Status)>)>;
  using Complete = std::function<void(const proto::ApiAuth&, const v1::UploadStart&,
                                      const crypto::Digest& ciphertext, std::uint64_t size,
                                      const crypto::DataKey& key, std::function<void(Status)>)>;

  UploadReactor(grpc::CallbackServerContext* ctx, v1::UploadRecordResponse* resp,
                std::atomic<int>& active,
                std::function<Result<proto::ApiAuth>(const v1::UploadRecordRequest&)> auth,
                std::function<Result<std::unique_ptr<storage::BlobWriter>>()> create_writer,
                std::function<void(std::function<void()>, std::function<void()>)> post, Begin begin,
                Complete complete)
      : ctx_(ctx),
        resp_(resp),
        active_(active),
        auth_(std::move(auth)),
        create_writer_(std::move(create_writer)),
        post_(std::move(post)),
        begin_(std::move(begin)),
        complete_(std::move(complete)) {
    if (++active_ > kMaxConcurrentUploads) {
      Fail(Status::ResourceExhausted("too many uploads in progress at this node (" +
                                     std::to_string(kMaxConcurrentUploads) + "); retry shortly"));
      return;
    }
    StartRead(&req_);
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      if (ctx_->IsCancelled()) return Fail(Status::Unavailable("the upload was cancelled"));
      if (!started_ || !ended_) {
        return Fail(Status::InvalidArgument(
            "the upload stream closed before its end message; nothing was stored (send start, "
            "chunks, then end)"));
      }
      return EndUpload();
    }
    switch (req_.part_case()) {
      case v1::UploadRecordRequest::kStart:
        return OnStart();
      case v1::UploadRecordRequest::kChunk:
        return OnChunk();
      case v1::UploadRecordRequest::kEnd:
        if (!started_ || ended_) {
          return Fail(Status::InvalidArgument("an end message must follow start, once"));
        }
        ended_ = true;
        end_ = req_.end();
        return StartRead(&req_);
      case v1::UploadRecordRequest::PART_NOT_SET:
        break;
    }
    Fail(Status::InvalidArgument("an upload message has none of start, chunk or end set"));
  }

  void OnDone() override {
    --active_;
    delete this;
  }

 private:
  void OnStart() {
    if (started_) return Fail(Status::InvalidArgument("the upload has a second start message"));
    auto auth = auth_(req_);
    if (!auth) return Fail(auth.error());
    auth_result_ = *auth;
    start_ = req_.start();
    post_(
        [this] {
          begin_(auth_result_, start_, [this](Status s) {
            if (!s.ok()) return Fail(s);
            auto writer = create_writer_();
            if (!writer) return Fail(writer.error());
            writer_ = std::move(*writer);
            auto enc = crypto::PayloadEncryptor::Create(key_);
            if (!enc) return Fail(enc.error());
            encryptor_.emplace(std::move(*enc));
            started_ = true;
            StartRead(&req_);
          });
        },
        [this] { Fail(Status::Unavailable("the node is shutting down; retry when it is back")); });
  }

  void OnChunk() {
    if (!started_ || ended_) {
      return Fail(Status::InvalidArgument("a chunk must come after start and before end"));
    }
    std::string* chunk = req_.mutable_chunk();
    if (chunk->size() > kMaxUploadChunk) {
      Wipe(*chunk);
      return Fail(Status::InvalidArgument("an upload chunk is " + std::to_string(chunk->size()) +
                                          " bytes; send chunks of at most 4 MiB"));
    }
    plaintext_size_ += chunk->size();
    if (start_.plaintext_size() != 0 && plaintext_size_ > start_.plaintext_size()) {
      Wipe(*chunk);
      return Fail(Status::InvalidArgument("the upload is longer than start.plaintext_size (" +
                                          std::to_string(start_.plaintext_size()) + " bytes)"));
    }
    hasher_.Update(AsBytes(*chunk));
    cipher_.clear();
    encryptor_->Update(AsBytes(*chunk), cipher_);
    Wipe(*chunk);
    if (auto s = writer_->Write(cipher_); !s.ok()) return Fail(s);
    StartRead(&req_);
  }

  void EndUpload() {
    if (start_.plaintext_size() != 0 && plaintext_size_ != start_.plaintext_size()) {
      return Fail(Status::InvalidArgument("the upload has " + std::to_string(plaintext_size_) +
                                          " bytes but start.plaintext_size said " +
                                          std::to_string(start_.plaintext_size())));
    }
    const crypto::Digest plain = hasher_.Finish();
    if (!end_.plaintext_digest().empty() && end_.plaintext_digest() != AsStringView(plain.span())) {
      return Fail(Status::DataLoss(
          "the payload's BLAKE2b-256 differs from end.plaintext_digest: bytes were lost or "
          "changed on the way; nothing was stored, upload again"));
    }
    cipher_.clear();
    encryptor_->Finish(cipher_);
    if (auto s = writer_->Write(cipher_); !s.ok()) return Fail(s);
    const std::uint64_t size = writer_->bytes_written();
    auto digest = writer_->Commit();
    if (!digest) return Fail(digest.error());
    resp_->set_plaintext_size(plaintext_size_);
    resp_->set_plaintext_digest(ToString(plain.span()));
    post_(
        [this, d = *digest, size] {
          complete_(auth_result_, start_, d, size, key_, [this](Status s) {
            if (!s.ok()) return Fail(s);
            ServerReadReactor::Finish(grpc::Status::OK);
          });
        },
        [this] { Fail(Status::Unavailable("the node is shutting down; retry when it is back")); });
  }

  void Fail(const Status& s) {
    writer_.reset();  // an uncommitted writer removes its temporary file
    ServerReadReactor::Finish(ToGrpc(s));
  }

  grpc::CallbackServerContext* ctx_;
  v1::UploadRecordResponse* resp_;
  std::atomic<int>& active_;
  std::function<Result<proto::ApiAuth>(const v1::UploadRecordRequest&)> auth_;
  std::function<Result<std::unique_ptr<storage::BlobWriter>>()> create_writer_;
  std::function<void(std::function<void()>, std::function<void()>)> post_;
  Begin begin_;
  Complete complete_;

  v1::UploadRecordRequest req_;
  proto::ApiAuth auth_result_;
  v1::UploadStart start_;
  v1::UploadEnd end_;
  bool started_ = false;
  bool ended_ = false;
  crypto::DataKey key_ = crypto::DataKey::Random();
  std::optional<crypto::PayloadEncryptor> encryptor_;
  std::unique_ptr<storage::BlobWriter> writer_;
  crypto::Hasher hasher_;
  Bytes cipher_;
  std::uint64_t plaintext_size_ = 0;
};

}  // namespace

grpc::ServerReadReactor<v1::UploadRecordRequest>* Node::ApiService::UploadRecord(
    grpc::CallbackServerContext* ctx, v1::UploadRecordResponse* resp) {
  return new UploadReactor(
      ctx, resp, uploads_,
      [this, ctx](const v1::UploadRecordRequest& r) {
        return Authenticate(ctx, "UploadRecord", r);
      },
      [this] { return n_.blobs_->Create(); },
      [this](std::function<void()> run, std::function<void()> cancel) {
        n_.PostApi(std::move(run), std::move(cancel));
      },
      [this](const proto::ApiAuth& auth, const v1::UploadStart& start,
             std::function<void(Status)> done) {
        auto caller = n_.ApiCaller(auth.user);
        if (!caller) return done(caller.error());
        done(n_.ApiUploadAllowed(*caller, start));
      },
      [this, resp](const proto::ApiAuth& auth, const v1::UploadStart& start,
                   const crypto::Digest& digest, std::uint64_t size, const crypto::DataKey& key,
                   std::function<void(Status)> done) {
        auto caller = n_.ApiCaller(auth.user);
        if (!caller) return done(caller.error());
        done(n_.ApiUploadDone(*caller, start, digest, size, key, *resp));
      });
}

// ---------------------------------------------------------------------------------------------
// GetRecord: the policy is checked on the io thread; the blob is decrypted while streaming.

namespace {

class ReadReactor final : public grpc::ServerWriteReactor<v1::GetRecordResponse> {
 public:
  explicit ReadReactor(Status early) {
    if (!early.ok()) Finish(ToGrpc(early));
  }
  ReadReactor() = default;

  // Called on the io thread once the read is authorised (or refused).
  void Begin(Result<Node::OpenedRecord> opened) {
    if (!opened) return Finish(ToGrpc(opened.error()));
    reader_ = std::move(opened->reader);
    decryptor_.emplace(opened->key);
    *msg_.mutable_info() = std::move(opened->info);
    StartWrite(&msg_);
  }

  void OnWriteDone(bool ok) override {
    Wipe(*msg_.mutable_chunk());
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away"));
    if (done_) return Finish(grpc::Status::OK);
    Next();
  }

  void OnDone() override { delete this; }

 private:
  void Next() {
    plain_.clear();
    while (plain_.empty()) {
      piece_.resize(kReadPiece);
      auto n = reader_->Read(piece_);
      if (!n) return Finish(ToGrpc(n.error()));
      if (*n == 0) {
        if (auto s = decryptor_->Finish(plain_); !s.ok()) return Finish(ToGrpc(s));
        done_ = true;
        if (plain_.empty()) return Finish(grpc::Status::OK);
        break;
      }
      piece_.resize(*n);
      if (auto s = decryptor_->Update(piece_, plain_); !s.ok()) return Finish(ToGrpc(s));
    }
    msg_.set_chunk(ToString(plain_));
    Wipe(plain_);
    StartWrite(&msg_);
  }

  v1::GetRecordResponse msg_;
  std::unique_ptr<storage::BlobReader> reader_;
  std::optional<crypto::PayloadDecryptor> decryptor_;
  Bytes piece_;
  Bytes plain_;
  bool done_ = false;
};

}  // namespace

grpc::ServerWriteReactor<v1::GetRecordResponse>* Node::ApiService::GetRecord(
    grpc::CallbackServerContext* ctx, const v1::GetRecordRequest* req) {
  auto auth = Authenticate(ctx, "GetRecord", *req);
  if (!auth) return new ReadReactor(auth.error());
  auto* reactor = new ReadReactor();
  n_.PostApi(
      [this, reactor, user = auth->user, req] {
        auto caller = n_.ApiCaller(user);
        if (!caller) return reactor->Begin(caller.error());
        reactor->Begin(n_.ApiOpenRecord(*caller, *req));
      },
      [reactor] { reactor->Begin(Status::Unavailable("the node is shutting down")); });
  return reactor;
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and the io-thread queue.

Status Node::StartApi() {
  api_service_ = std::make_shared<ApiService>(*this);
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (config_.api_tls_cert_file.empty()) {
    creds = grpc::InsecureServerCredentials();  // loopback only: config validation enforces it
  } else {
    auto read = [&](const std::filesystem::path& p) -> Result<std::string> {
      std::ifstream in(config_.Resolve(p), std::ios::binary);
      std::stringstream text;
      if (!in || !(text << in.rdbuf())) {
        return Status::NotFound("cannot read " + config_.Resolve(p).string() +
                                " (config [api] TLS file)");
      }
      return text.str();
    };
    ERTR_ASSIGN_OR_RETURN(auto cert, read(config_.api_tls_cert_file));
    ERTR_ASSIGN_OR_RETURN(auto key, read(config_.api_tls_key_file));
    grpc::SslServerCredentialsOptions opts;
    opts.pem_key_cert_pairs.push_back({key, cert});
    creds = grpc::SslServerCredentials(opts);
    Wipe(key);
  }
  const std::string address = config_.api_host + ":" + std::to_string(config_.api_port);
  builder.AddListeningPort(address, creds, &api_port_);
  builder.RegisterService(api_service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxUploadChunk + (64u << 10)));
  builder.SetMaxSendMessageSize(16 << 20);
  grpc_server_ = std::shared_ptr<grpc::Server>(builder.BuildAndStart());
  if (!grpc_server_ || api_port_ == 0) {
    return Status::Unavailable("cannot serve the API on " + address +
                               " (config field 'api.listen'): is the port in use?");
  }
  return Status::Ok();
}

void Node::PostApi(std::function<void()> run, std::function<void()> cancel) {
  {
    std::lock_guard lock(api_mu_);
    if (!api_closed_) {
      api_queue_.push_back({std::move(run), std::move(cancel)});
      boost::asio::post(io_, [this] { DrainApi(); });
      return;
    }
  }
  cancel();
}

void Node::DrainApi() {
  std::deque<ApiWork> work;
  {
    std::lock_guard lock(api_mu_);
    work.swap(api_queue_);
  }
  for (auto& w : work) w.run();
}

void Node::CloseApi() {
  std::deque<ApiWork> work;
  {
    std::lock_guard lock(api_mu_);
    api_closed_ = true;
    work.swap(api_queue_);
  }
  for (auto& w : work) w.cancel();
  auto waiters = std::move(commit_waiters_);
  commit_waiters_.clear();
  for (auto& [id, w] : waiters) w.done(nullptr, 0, nullptr);
  if (grpc_server_) {
    grpc_server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
    grpc_server_->Wait();
    grpc_server_.reset();
  }
}

Result<ledger::UserState> Node::ApiCaller(const crypto::PublicKey& key) const {
  ledger::StateView view(*stores_.state);
  ERTR_ASSIGN_OR_RETURN(auto user, view.Load<ledger::UserState>(ledger::keys::User(key)));
  if (!user) {
    return Status::Unauthenticated("key " + key.ShortHex() +
                                   "… is not a registered user of chain " + chain_id_ +
                                   "; ask an admin of your institution to register it "
                                   "(ertrctl user register)");
  }
  if (!user->active) {
    return Status::PermissionDenied("user " + key.ShortHex() + "… was deactivated at height " +
                                    std::to_string(user->deactivated_height));
  }
  return *user;
}

std::uint64_t Node::ApiTimeMs() const { return std::max(last_block_time_ms_, WallClockMs()); }

}  // namespace ertr::node
