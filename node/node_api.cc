// Node: the integrator gRPC API (proto/ertr/v1/api.proto, docs/api.md, ADR 0007).
//
// Threads: gRPC's callback threads authenticate each call (signature, clock, replay) and move
// payload bytes (encrypting uploads into the blob store, decrypting reads out of it); everything
// that reads or changes node state runs on the io thread through PostApi (ADR 0006).

#include <grpcpp/generic/async_generic_service.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/proto_buffer_reader.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>

#include "common/log_limiter.h"
#include "common/version.h"
#include "crypto/envelope.h"
#include "crypto/passphrase.h"
#include "crypto/secure_buffer.h"
#include "crypto/sha256.h"
#include "crypto/tls_pem.h"
#include "ledger/queries.h"
#include "ledger/shape.h"
#include "node/api_internal.h"
#include "node/node.h"
#include "node/testnet.h"
#include "proto/api_auth.h"
#include "proto/api_codec.h"
#include "proto/codec.h"
#include "proto/grpc_status.h"
#include "proto/ledger_codec.h"
#include "proto/receipt.h"

namespace ertr::node {

namespace v1 = ertr::v1;

namespace {

constexpr std::size_t kMaxUploadChunk = 4u << 20;
// Bytes of a call a client may send ahead of what the node has read (its HTTP/2 stream window):
// a few upload chunks, enough to keep a loopback or LAN upload streaming.
constexpr std::size_t kApiWindow = 16u << 20;
// Upload chunks from this size are sealed and written on the API's writer threads, in a pipeline
// (UploadCall); smaller ones on the gRPC thread when nothing is in flight.
constexpr std::size_t kPipelineBytes = 256u << 10;
// Chunks received and not yet written, per upload, and the emptied ciphertext buffers kept for
// reuse. Memory per upload: at most about 2 × in flight + spare + 1 buffers of up to
// kMaxUploadChunk each (usually 1 MiB).
constexpr int kMaxChunksInFlight = 3;
constexpr std::size_t kMaxSpareBuffers = 2;
constexpr std::size_t kReadPiece = 256u << 10;  // ciphertext bytes decrypted per streamed message
// Uploads in progress at once, per node: records declared under kPipelineBytes (a treatment
// record, a plan: each holds about twice its size at most, and the message being received, which
// gRPC bounds at 4 MiB + 64 KiB and which is refused unparsed when longer than the declared
// size left) and the others (larger or of undeclared size: each holds up to about seven chunk
// buffers), counted apart so that large uploads cannot crowd out small ones.
constexpr int kMaxConcurrentUploads = 16;
constexpr int kMaxConcurrentSmallUploads = 64;
// Bytes an UploadRecordRequest adds around its chunk or end digest (tag and length: a few).
constexpr std::size_t kMaxChunkFraming = 64;
constexpr std::size_t kMaxApiQueue = 10'000;  // calls waiting for the io thread

Status LongerThanDeclared(std::uint64_t declared) {
  return Status::InvalidArgument("the upload is longer than start.plaintext_size (" +
                                 std::to_string(declared) + " bytes)");
}

grpc::Status ToGrpc(const Status& s) {
  if (s.ok()) return grpc::Status::OK;
  return grpc::Status(proto::ToGrpcCode(s.code()), s.message());
}

}  // namespace

using namespace api;

// The request bytes exactly as received (what the caller signed).
std::string Flatten(grpc::ByteBuffer& buf) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (buf.Dump(&slices).ok()) {
    for (const auto& s : slices) out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  buf.Clear();
  return out;
}

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// ---------------------------------------------------------------------------------------------
// The gRPC service. It is a generic service so that each call's signature is checked over the
// request bytes exactly as they arrived (docs/api.md section 1), whatever encoder the client used;
// the bytes are parsed only after that.

class Node::ApiService final : public grpc::CallbackGenericService {
 public:
  // A unary call's handler, on the io thread: the request bytes in; the serialized response or an
  // error out, through `done`, exactly once (possibly later: a commit wait).
  using Done = std::function<void(Result<std::string>)>;
  using Handler = std::function<void(const ledger::UserState&, const std::string&, Done)>;
  // Uploads in progress, by kind (kMaxConcurrentSmallUploads, kMaxConcurrentUploads).
  struct UploadSlots {
    std::atomic<int> small{0};
    std::atomic<int> large{0};
  };

  explicit ApiService(Node& node);

  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext* ctx) override;

  // Checks the call's signature headers over `request` (on the gRPC thread).
  // A unary or server-streaming call's request message, exactly as received, and its
  // authenticated caller; or what to finish the call with.
  Result<std::pair<std::string, proto::ApiAuth>> FirstRequest(
      bool ok, grpc::ByteBuffer& in, grpc::GenericCallbackServerContext* ctx) {
    if (!ok) return Status::InvalidArgument("the call carried no request message");
    std::string raw = Flatten(in);
    ERTR_ASSIGN_OR_RETURN(auto auth, Authenticate(ctx, raw));
    return std::make_pair(std::move(raw), std::move(auth));
  }

  // CheckAuth, and a refusal logged (rate-limited: a flood of bad calls must not flood the log
  // or the disk) and counted.
  Result<proto::ApiAuth> Authenticate(grpc::GenericCallbackServerContext* ctx,
                                      const std::string& request) {
    auto auth = CheckAuth(ctx, request);
    if (!auth) {
      ++refused_;
      std::optional<std::uint64_t> unlogged;
      {
        std::lock_guard lock(refusal_log_mu_);
        unlogged = refusal_log_.Admit(std::chrono::steady_clock::now());
      }
      if (unlogged && *unlogged > 0) {
        n_.log_->warn("{}", refusal_log_.UnloggedLine("api_refused", *unlogged));
      }
      if (unlogged) {
        n_.log_->warn("event=api_refused method={} peer={} code={} reason=\"{}\"",
                      LogText(ctx->method()), LogText(ctx->peer()),
                      StatusCodeName(auth.error().code()), LogText(auth.error().message()));
      }
    }
    return auth;
  }

  std::uint64_t refused() const { return refused_.load(); }
  const UploadSlots& upload_slots() const { return upload_slots_; }

  // Unary and GetRecord calls, watched while they wait on their client (EndIdleCalls): for the
  // request message, or for a response to be taken. Each registers itself for its life; `Wait`
  // starts a wait, `Progress` ends it.
  void Watch(const void* call, grpc::GenericCallbackServerContext* ctx) {
    std::lock_guard lock(watched_mu_);
    watched_[call] = Watched{ctx, true, std::chrono::steady_clock::now()};
  }
  void Wait(const void* call) { SetWaiting(call, true); }
  void Progress(const void* call) { SetWaiting(call, false); }
  void Unwatch(const void* call) {
    std::lock_guard lock(watched_mu_);
    watched_.erase(call);
  }
  // Cancels the calls that have waited `idle` or more on their client: a client that opens
  // calls and sends nothing, or never reads a record it asked for, would otherwise hold the
  // call (and for a read its open blob and data key) until its connection dies.
  void EndIdleCalls(std::chrono::steady_clock::time_point now, std::chrono::seconds idle);
  std::uint64_t idle_calls_ended() const { return idle_calls_ended_.load(); }

  // Upload calls in progress (each registers itself for its life), for EndIdleUploads.
  void AddUpload(UploadCall* call) {
    std::lock_guard lock(uploads_mu_);
    uploads_.insert(call);
  }
  void RemoveUpload(UploadCall* call) {
    std::lock_guard lock(uploads_mu_);
    uploads_.erase(call);
  }
  // Ends the uploads that have waited `idle` or more for their client's next message: a client
  // that hangs, or a connection gone half-open, would otherwise hold an upload slot for ever.
  void EndIdleUploads(std::chrono::steady_clock::time_point now, std::chrono::seconds idle);
  // The end of a burst of refusals cut short in the log, once its second has passed.
  void LogUnloggedRefusals(std::chrono::steady_clock::time_point now) {
    std::string line;
    {
      std::lock_guard lock(refusal_log_mu_);
      line = refusal_log_.TakeUnloggedLine("api_refused", now);
    }
    if (!line.empty()) n_.log_->warn("{}", line);
  }
  std::uint64_t idle_uploads_ended() const { return idle_uploads_ended_.load(); }

  // The threads of the uploads' pipelines (UploadCall).
  boost::asio::thread_pool& writers() { return writers_; }

  // One check of a blob's stored copy at a time (ReadCall::Failed).
  bool BeginVerify(const crypto::Digest& digest) {
    std::lock_guard lock(verifying_mu_);
    return verifying_.insert(digest).second;
  }
  void EndVerify(const crypto::Digest& digest) {
    std::lock_guard lock(verifying_mu_);
    verifying_.erase(digest);
  }

  Result<proto::ApiAuth> CheckAuth(grpc::GenericCallbackServerContext* ctx,
                                   const std::string& request) {
    std::map<std::string, std::string> headers;
    for (const auto& [k, v] : ctx->client_metadata()) {
      headers.emplace(std::string(k.data(), k.size()), std::string(v.data(), v.size()));
    }
    ERTR_ASSIGN_OR_RETURN(auto auth, proto::ParseApiAuthHeaders(headers));
    const auto now = WallClockMs();
    ERTR_RETURN_IF_ERROR(proto::VerifyApiRequest(*n_.verifier_, n_.chain_id_, ctx->method(), auth,
                                                 AsBytes(request), now));
    // Strangers stop here, before they can take room in the replay guard or the io queue.
    if (!n_.IsActiveUser(auth.user)) {
      return Status::Unauthenticated(
          "key " + auth.user.ShortHex() + "… is not an active registered user of chain " +
          n_.chain_id_ +
          ": it was never registered (ask an admin of your institution: ertrctl user register), "
          "or it was deactivated (a deactivated key stays so: register a new key)");
    }
    std::lock_guard lock(replay_mu_);
    ERTR_RETURN_IF_ERROR(replay_.Check(auth, now));
    return auth;
  }

  // Runs `run(caller)` on the io thread for an authenticated user, or `fail(status)`.
  void WithCaller(const crypto::PublicKey& user, std::function<void(const ledger::UserState&)> run,
                  std::function<void(const Status&)> fail) {
    n_.PostApi(
        [this, user, run, fail] {
          auto caller = n_.ApiCaller(user);
          if (!caller) return fail(caller.error());
          run(*caller);
        },
        [fail](const Status& s) { fail(s); });
  }

  // Parses the request as `Request`, runs `fn(caller, request, response, done)` and serializes
  // the response. Request and response live until `done` is called.
  template <typename Request, typename Response, typename Fn>
  static Handler Typed(const char* what, Fn fn);

  Node& n_;
  std::map<std::string, Handler> unary_;
  std::mutex replay_mu_;
  proto::ReplayGuard replay_;  // guarded by replay_mu_
  UploadSlots upload_slots_;
  std::mutex uploads_mu_;
  std::set<UploadCall*> uploads_;  // guarded by uploads_mu_
  struct Watched {
    grpc::GenericCallbackServerContext* ctx;
    bool waiting;
    std::chrono::steady_clock::time_point since;
  };
  void SetWaiting(const void* call, bool waiting) {
    std::lock_guard lock(watched_mu_);
    auto it = watched_.find(call);
    if (it == watched_.end()) return;
    it->second.waiting = waiting;
    if (waiting) it->second.since = std::chrono::steady_clock::now();
  }
  std::mutex watched_mu_;
  std::map<const void*, Watched> watched_;  // guarded by watched_mu_
  std::atomic<std::uint64_t> idle_calls_ended_{0};
  std::atomic<std::uint64_t> idle_uploads_ended_{0};
  // Joined when the service is destroyed, after the gRPC server has finished every call (an
  // upload finishes only once its writes have run).
  boost::asio::thread_pool writers_{std::clamp(std::thread::hardware_concurrency(), 1u, 4u)};
  std::atomic<std::uint64_t> refused_{0};
  std::mutex verifying_mu_;
  std::set<crypto::Digest> verifying_;  // guarded by verifying_mu_
  static constexpr std::uint32_t kMaxRefusalLogsPerSecond = 20;
  std::mutex refusal_log_mu_;
  LogLimiter refusal_log_{std::chrono::seconds(1), kMaxRefusalLogsPerSecond};  // refusal_log_mu_
};

class Node::UnaryCall final : public grpc::ServerGenericBidiReactor {
 public:
  UnaryCall(Node::ApiService& svc, grpc::GenericCallbackServerContext* ctx,
            const Node::ApiService::Handler& handler)
      : svc_(svc), ctx_(ctx), handler_(handler) {
    svc_.Watch(this, ctx_);  // waiting for the request
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    svc_.Progress(this);  // the rest is the node's work, however long a commit wait takes
    auto request = svc_.FirstRequest(ok, in_, ctx_);
    if (!request) return Finish(ToGrpc(request.error()));
    svc_.WithCaller(
        request->second.user,
        [this, raw = std::move(request->first)](const ledger::UserState& caller) {
          handler_(caller, raw, [this](Result<std::string> r) {
            if (!r) return Finish(ToGrpc(r.error()));
            out_ = ToBuffer(*r);
            StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
          });
        },
        [this](const Status& s) { Finish(ToGrpc(s)); });
  }

  void OnDone() override {
    svc_.Unwatch(this);
    delete this;
  }

 private:
  Node::ApiService& svc_;
  grpc::GenericCallbackServerContext* ctx_;
  const Node::ApiService::Handler& handler_;
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
};

// UploadRecord: plaintext in, encrypted into the blob store as it arrives. A large chunk goes
// through a pipeline of two stages on the service's writer threads (asio strands: one job at a
// time each, in order): the seal stage hashes and encrypts it and wipes the plaintext, the write
// stage hashes and writes the ciphertext. Meanwhile gRPC reads the next chunk, with at most
// kMaxChunksInFlight chunks between the two, so an upload uses up to three cores. Small chunks are
// sealed and written at once on the gRPC thread when nothing is in flight. An upload declared at
// kPushBytes or more is also pushed to its first holders (BlobReplicator::PushData, ADR 0032): the
// write stage hands each chunk's ciphertext to the io thread before writing it here, and the chunk
// leaves the pipeline once the receivers are within the push's window, so the upload keeps pace
// with its slowest receiver.
// The call finishes only when nothing is in flight: the reactor outlives its jobs.
class Node::UploadCall final : public grpc::ServerGenericBidiReactor {
 public:
  using Begin = std::function<void(const ledger::UserState&, const v1::UploadStart&)>;

  UploadCall(Node& node, Node::ApiService& svc, grpc::GenericCallbackServerContext* ctx,
             ApiService::UploadSlots& slots)
      : n_(node),
        svc_(svc),
        ctx_(ctx),
        slots_(slots),
        seal_(svc.writers().get_executor()),
        write_(svc.writers().get_executor()) {
    svc_.AddUpload(this);
    Read();
  }

  void OnReadDone(bool ok) override {
    {
      std::lock_guard lock(mu_);
      if (timed_out_) return;  // EndIfIdle ended the call while this read was pending
      reading_ = false;
    }
    if (!ok) {
      if (ctx_->IsCancelled()) return Fail(Status::Unavailable("the upload was cancelled"));
      if (!started_ || !ended_) {
        return Fail(Status::InvalidArgument(
            "the upload stream closed before its end message; nothing was stored (send start, "
            "chunks, then end)"));
      }
      return EndUpload();
    }
    bool parsed = false;
    if (!authenticated_) {
      // The first message is what the caller signed: checked as received, then parsed.
      std::string raw = Flatten(in_);
      authenticated_ = true;
      auto auth = svc_.Authenticate(ctx_, raw);
      if (!auth) return Fail(auth.error());
      user_ = auth->user;
      parsed = req_.ParseFromString(raw);
      Wipe(raw);
      // Only authenticated uploads take a slot, of their declared size's kind.
      if (parsed && req_.has_start()) {
        // A size of 0 is not declared: the upload may be of any size.
        const std::uint64_t declared = req_.start().plaintext_size();
        const bool small = declared != 0 && declared < kPipelineBytes;
        counted_ = small ? &slots_.small : &slots_.large;
        const int most = small ? kMaxConcurrentSmallUploads : kMaxConcurrentUploads;
        if (++*counted_ > most) {
          return Fail(Status::ResourceExhausted(
              "too many uploads in progress at this node (" + std::to_string(most) + " of " +
              (small ? "records under 256 KiB" : "records of 256 KiB or more") +
              "); retry shortly"));
        }
      }
    } else {
      // A message longer than what is left of the declared size (plus its framing) is refused
      // before it is parsed into a second copy: a small upload's slot holds little memory.
      const std::uint64_t declared = start_.plaintext_size();
      if (declared != 0 &&
          in_.Length() > declared - std::min(plaintext_size_, declared) + kMaxChunkFraming) {
        in_.Clear();
        return Fail(LongerThanDeclared(declared));
      }
      // Chunks are parsed straight from gRPC's buffer (one copy of the plaintext fewer).
      {
        grpc::ProtoBufferReader reader(&in_);
        parsed = req_.ParseFromZeroCopyStream(&reader) && reader.status().ok();
      }
      in_.Clear();
    }
    if (!parsed) {
      return Fail(Status::InvalidArgument(
          "an upload message is not a valid UploadRecordRequest (proto/ertr/v1/api.proto)"));
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
        if (const std::size_t n = end_.plaintext_digest().size(); n != 0 && n != 32) {
          return Fail(Status::InvalidArgument(
              "end.plaintext_digest is " + std::to_string(n) +
              " bytes; it must be the plaintext's 32-byte SHA-256, or empty"));
        }
        return Read();
      case v1::UploadRecordRequest::PART_NOT_SET:
        break;
    }
    Fail(Status::InvalidArgument("an upload message has none of start, chunk or end set"));
  }

  void OnWriteDone(bool) override {}
  void OnDone() override {
    svc_.RemoveUpload(this);
    if (counted_ != nullptr) --*counted_;
    delete this;
  }

  // Ends the call if it has waited `idle` or more for the client's next message (from
  // ApiService::EndIdleUploads, on the io thread). Whether the pending read completes first or
  // this ends the call is decided under mu_: the other then does nothing. The call is ended on
  // the write stage (closing and deleting its temporary file, which may be large, is no work for
  // the io thread); until then nothing else can end it, so it stays alive.
  bool EndIfIdle(std::chrono::steady_clock::time_point now, std::chrono::seconds idle) {
    Status why;
    {
      std::lock_guard lock(mu_);
      if (!reading_ || timed_out_ || finishing_ || then_ || now - read_since_ < idle) return false;
      timed_out_ = true;
      const std::string waited = std::to_string(idle.count()) + " s";
      if (!write_error_.ok()) {
        why = write_error_;  // what went wrong first, not the silence after it
      } else if (ended_) {
        why = Status::Unavailable(
            "the upload's stream was not closed within " + waited +
            " of its end message, and was ended; nothing was stored. Upload again, closing the "
            "stream (WritesDone) after the end message");
      } else {
        why = Status::Unavailable(
            "the upload sent no message for " + waited +
            " and was ended; nothing was stored. Upload again, sending its messages without long "
            "pauses (the node's api.upload_idle_seconds)");
      }
    }
    boost::asio::post(write_, [this, why] { Fail(why); });
    return true;
  }

 private:
  // Reads the client's next message (OnReadDone); EndIfIdle times the wait.
  void Read() {
    {
      std::lock_guard lock(mu_);
      reading_ = true;
      read_since_ = std::chrono::steady_clock::now();
    }
    StartRead(&in_);
  }

  void OnStart() {
    if (started_ || seen_start_) {
      return Fail(Status::InvalidArgument("the upload has a second start message"));
    }
    seen_start_ = true;
    start_ = req_.start();
    svc_.WithCaller(
        user_,
        [this](const ledger::UserState& caller) {
          if (auto s = n_.ApiUploadAllowed(caller, start_); !s.ok()) return Fail(s);
          auto writer = n_.blobs_->Create();
          if (!writer) return Fail(writer.error());
          writer_ = std::move(*writer);
          auto enc = crypto::PayloadEncryptor::Create(key_);
          if (!enc) return Fail(enc.error());
          encryptor_.emplace(std::move(*enc));
          if (start_.plaintext_size() >= kPushBytes) push_ = n_.replicator_->BeginPush();
          started_ = true;
          Read();
        },
        [this](const Status& s) { Fail(s); });
  }

  void OnChunk() {
    if (auto e = WriteError(); !e.ok()) {
      Wipe(*req_.mutable_chunk());
      return Fail(e);
    }
    if (!started_ || ended_) {
      Wipe(*req_.mutable_chunk());
      return Fail(Status::InvalidArgument("a chunk must come after start and before end"));
    }
    std::string* chunk = req_.mutable_chunk();
    if (chunk->size() > kMaxUploadChunk) {
      Wipe(*chunk);
      return Fail(Status::InvalidArgument("an upload chunk is " + std::to_string(chunk->size()) +
                                          " bytes; send chunks of at most 4 MiB"));
    }
    plaintext_size_ += chunk->size();
    if (crypto::PayloadCiphertextSize(plaintext_size_) > kMaxReplicatedBlobBytes) {
      Wipe(*chunk);
      return Fail(Status::InvalidArgument(
          "the upload is over the largest record the network replicates (4 GiB); split it"));
    }
    if (start_.plaintext_size() != 0 && plaintext_size_ > start_.plaintext_size()) {
      Wipe(*chunk);
      return Fail(LongerThanDeclared(start_.plaintext_size()));
    }
    std::string plain;
    plain.swap(*chunk);
    std::unique_lock lock(mu_);
    if (plain.size() < kPipelineBytes && in_flight_ == 0 && !push_) {
      lock.unlock();  // small and nothing in flight: seal and write it here, at once
      const Status s = Store(Seal(std::move(plain)));
      if (!s.ok()) return Fail(s);
      return Read();
    }
    const bool read_on = ++in_flight_ < kMaxChunksInFlight;
    read_waits_ = !read_on;
    // Posted under the lock: once read_waits_ is visible, a stage may start the next read, and
    // that chunk must reach the seal stage after this one.
    boost::asio::post(seal_, [this, p = std::move(plain)]() mutable {
      Bytes cipher = Seal(std::move(p));
      boost::asio::post(write_, [this, c = std::move(cipher)]() mutable {
        const bool pushed = Push(c);
        const Status s = Store(std::move(c));
        if (!pushed) return Written(s);
        // The push's end (PushData's done) takes the chunk out of the pipeline.
        std::lock_guard guard(mu_);
        if (!s.ok() && write_error_.ok()) write_error_ = s;
      });
    });
    lock.unlock();
    if (read_on) Read();
  }

  // Hashes and encrypts a chunk, and wipes it (seal stage).
  Bytes Seal(std::string plain) {
    Bytes cipher;
    {
      std::lock_guard lock(mu_);
      if (!write_error_.ok()) {
        Wipe(plain);
        return cipher;  // the upload failed: nothing more is sealed
      }
      if (!spare_cipher_.empty()) {
        cipher = std::move(spare_cipher_.back());
        spare_cipher_.pop_back();
      }
    }
    cipher.clear();
    hasher_.Update(AsBytes(plain));
    encryptor_->Update(AsBytes(plain), cipher);
    Wipe(plain);
    return cipher;
  }

  // Hashes and writes a chunk's ciphertext to the blob store (write stage).
  Status Store(Bytes cipher) {
    {
      std::lock_guard lock(mu_);
      if (!write_error_.ok()) return write_error_;
    }
    // Each chunk keeps the disk's reserve: an upload of undeclared size, or several at once,
    // cannot write into it.
    Status s = n_.UploadRoomFor(cipher.size());
    if (s.ok()) s = writer_->Write(cipher);
    std::lock_guard lock(mu_);
    if (spare_cipher_.size() < kMaxSpareBuffers) spare_cipher_.push_back(std::move(cipher));
    return s;
  }

  // Hands a chunk's ciphertext to the io thread for the upload's push, if it has one that still
  // goes on; then the chunk is Written once the push's receivers have written it (or left it).
  bool Push(const Bytes& cipher) {
    if (!push_ || cipher.empty() || push_dead_) return false;
    {
      std::lock_guard lock(mu_);
      if (!write_error_.ok()) return false;  // the upload fails: nothing more is pushed
    }
    auto done = [this] { boost::asio::post(write_, [this] { Written(Status::Ok()); }); };
    n_.PostApi([&n = n_, id = *push_, data = cipher,
                done]() mutable { n.replicator_->PushData(id, std::move(data), false, done); },
               [this, done](const Status&) {
                 // Not queued: the rest is not pushed either, and the push is aborted at the end
                 // (the peers pull the blob instead).
                 push_dead_ = true;
                 done();
               });
    return true;
  }

  // A pipelined chunk is stored (or failed): reads on if the reader waited for room, and ends
  // the call if the end or a failure waited for the last chunk in flight.
  void Written(const Status& s) {
    std::unique_lock lock(mu_);
    if (!s.ok() && write_error_.ok()) write_error_ = s;
    --in_flight_;
    const bool read = read_waits_;
    read_waits_ = false;
    std::function<void()> then;
    if (in_flight_ == 0) then.swap(then_);
    lock.unlock();
    // A read after a failure ends in OnReadDone with that failure.
    if (read) Read();
    if (then) then();
  }

  // Runs `next` (which ends the call) once no chunk is in flight. Only the first is kept: the
  // call ends once.
  void AfterWrites(std::function<void()> next) {
    std::unique_lock lock(mu_);
    if (finishing_ || then_) return;
    if (in_flight_ > 0) {
      then_ = std::move(next);
      return;
    }
    lock.unlock();
    next();
  }

  Status WriteError() {
    std::lock_guard lock(mu_);
    return write_error_;
  }

  void EndUpload() {
    AfterWrites([this] { EndUploadWritten(); });
  }

  void EndUploadWritten() {
    if (auto e = WriteError(); !e.ok()) return EndCall(e);
    if (start_.plaintext_size() != 0 && plaintext_size_ != start_.plaintext_size()) {
      return Fail(Status::InvalidArgument("the upload has " + std::to_string(plaintext_size_) +
                                          " bytes but start.plaintext_size said " +
                                          std::to_string(start_.plaintext_size())));
    }
    const crypto::Digest plain = hasher_.Finish();
    if (!end_.plaintext_digest().empty() && end_.plaintext_digest() != AsStringView(plain.span())) {
      return Fail(Status::DataLoss(
          "the payload's SHA-256 differs from end.plaintext_digest: bytes were lost or "
          "changed on the way; nothing was stored, upload again"));
    }
    Bytes last;
    encryptor_->Finish(last);
    if (auto s = writer_->Write(last); !s.ok()) return EndCall(s);
    const std::uint64_t size = writer_->bytes_written();
    // Unsynced (a small blob; a large one is a file, synced as written): an upload is provisional
    // until its record is submitted, and is made durable then, with the group of blobs synced
    // before they are announced (Node::Admit, BlobReplicator::AnnounceUnsynced). A sync per
    // upload here was most of a validator's disk flushes (docs/benchmarks.md).
    auto digest = writer_->CommitUnsynced();
    if (!digest) return Fail(digest.error());
    resp_.set_plaintext_size(plaintext_size_);
    resp_.set_plaintext_digest(std::string(AsStringView(plain.span())));
    // From here the blob is stored: if the node cannot take it over, it is deleted again.
    svc_.WithCaller(
        user_,
        [this, d = *digest, size, tail = std::move(last)](const ledger::UserState& caller) {
          if (auto s = n_.ApiUploadDone(caller, start_, d, size, key_, resp_); !s.ok()) {
            (void)n_.blobs_->Delete(d);
            return EndCall(s);
          }
          // The push ends with the ciphertext's tail: its receivers then store the blob.
          if (push_ && !push_dead_) {
            n_.replicator_->PushData(*push_, tail, true, nullptr);
          } else if (push_) {
            n_.replicator_->AbortPush(*push_);  // a part of it could not be queued
          }
          push_.reset();
          out_ = ToBuffer(resp_.SerializeAsString());
          StartWriteAndFinish(&out_, grpc::WriteOptions(), grpc::Status::OK);
        },
        [this, d = *digest](const Status& s) {
          (void)n_.blobs_->Delete(d);
          EndCall(s);
        });
  }

  // Ends the call with `s` once no chunk is in flight.
  void Fail(const Status& s) {
    AfterWrites([this, s] { EndCall(s); });
  }

  // Ends the call; no chunk may be in flight.
  void EndCall(const Status& s) {
    {
      std::lock_guard lock(mu_);
      finishing_ = true;
    }
    if (push_) {
      n_.PostApi([&n = n_, id = *push_] { n.replicator_->AbortPush(id); }, [](const Status&) {});
      push_.reset();
    }
    writer_.reset();  // an uncommitted writer removes its temporary file
    Finish(ToGrpc(s));
  }

  Node& n_;
  Node::ApiService& svc_;
  grpc::GenericCallbackServerContext* ctx_;
  ApiService::UploadSlots& slots_;
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
  v1::UploadRecordRequest req_;
  v1::UploadRecordResponse resp_;
  bool authenticated_ = false;
  std::atomic<int>* counted_ = nullptr;  // the slot this upload holds
  crypto::PublicKey user_;
  v1::UploadStart start_;
  v1::UploadEnd end_;
  bool seen_start_ = false;
  bool started_ = false;
  bool ended_ = false;
  crypto::DataKey key_ = crypto::DataKey::Random();
  std::optional<crypto::PayloadEncryptor> encryptor_;
  std::unique_ptr<storage::BlobWriter> writer_;
  crypto::Sha256Hasher hasher_;  // the plaintext's digest (crypto/sha256.h)
  // The pipeline's two stages (each runs one job at a time, in order, on the writer threads).
  boost::asio::strand<boost::asio::thread_pool::executor_type> seal_;
  boost::asio::strand<boost::asio::thread_pool::executor_type> write_;
  std::mutex mu_;                      // guards the members below, shared with the stages
  int in_flight_ = 0;                  // chunks handed to the seal stage and not yet written
  bool read_waits_ = false;            // the next read waits for room in the pipeline
  Status write_error_ = Status::Ok();  // the first failure of a stage: the upload fails
  std::function<void()> then_;         // ends the call once nothing is in flight
  bool finishing_ = false;             // the call is being finished: do nothing more
  bool reading_ = false;               // a read of the client's next message is pending
  std::chrono::steady_clock::time_point read_since_;  // ... since then
  bool timed_out_ = false;           // EndIfIdle ended the call: the pending read's end is ignored
  std::vector<Bytes> spare_cipher_;  // emptied ciphertext buffers to reuse
  std::uint64_t plaintext_size_ = 0;
  // The upload's push to its first holders (set on the io thread before the first chunk is read;
  // reset when it ends), and whether the io queue refused a part of it.
  std::optional<std::uint64_t> push_;
  std::atomic<bool> push_dead_{false};
};

// GetRecord: the policy is checked on the io thread; the blob is decrypted while streaming.
class Node::ReadCall final : public grpc::ServerGenericBidiReactor {
 public:
  ReadCall(Node& node, Node::ApiService& svc, grpc::GenericCallbackServerContext* ctx)
      : n_(node), svc_(svc), ctx_(ctx) {
    svc_.Watch(this, ctx_);  // waiting for the request
    StartRead(&in_);
  }

  void OnReadDone(bool ok) override {
    svc_.Progress(this);
    auto request = svc_.FirstRequest(ok, in_, ctx_);
    if (!request) return Finish(ToGrpc(request.error()));
    if (!req_.ParseFromString(request->first)) {
      return Finish(ToGrpc(Status::InvalidArgument(
          "the request is not a valid GetRecordRequest (proto/ertr/v1/api.proto)")));
    }
    svc_.WithCaller(
        request->second.user,
        [this](const ledger::UserState& caller) { Begin(n_.ApiOpenRecord(caller, req_)); },
        [this](const Status& s) { Finish(ToGrpc(s)); });
  }

  void OnWriteDone(bool ok) override {
    svc_.Progress(this);
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away"));
    if (done_) return Finish(grpc::Status::OK);
    Next();
  }

  void OnDone() override {
    svc_.Unwatch(this);
    delete this;
  }

  // A response the client must take: watched until it does (EndIdleCalls).
  void Write() {
    svc_.Wait(this);
    StartWrite(&out_);
  }

 private:
  void Begin(Result<Node::OpenedRecord> opened) {
    if (!opened) return Finish(ToGrpc(opened.error()));
    digest_ = opened->digest;
    reader_ = std::move(opened->reader);
    decryptor_.emplace(opened->key);
    // Room for a piece's plaintext and a chunk carried over, so that it is never moved (the
    // decryptor wipes a buffer it outgrows, but this one is reused for every message).
    plain_.reserve(kReadPiece + crypto::kDefaultPayloadChunkSize);
    v1::GetRecordResponse msg;
    *msg.mutable_info() = std::move(opened->info);
    out_ = ToBuffer(msg.SerializeAsString());
    Write();
  }

  void Next() {
    plain_.clear();
    while (plain_.empty()) {
      piece_.resize(kReadPiece);
      auto n = reader_->Read(piece_);
      if (!n) return Failed(n.error());
      if (*n == 0) {
        if (auto s = decryptor_->Finish(plain_); !s.ok()) return Failed(s);
        done_ = true;
        if (plain_.empty()) return Finish(grpc::Status::OK);
        break;
      }
      piece_.resize(*n);
      if (auto s = decryptor_->Update(piece_, plain_); !s.ok()) return Failed(s);
    }
    v1::GetRecordResponse msg;
    msg.set_chunk(std::string(AsStringView(plain_)));
    Wipe(plain_);
    std::string bytes = msg.SerializeAsString();
    Wipe(*msg.mutable_chunk());
    out_ = ToBuffer(bytes);
    Wipe(bytes);
    Write();
  }

  // The stored ciphertext did not read back or authenticate: the reader gets the error (and must
  // discard what it received); the node checks its copy and repairs it from the peers.
  void Failed(const Status& s) {
    Wipe(plain_);
    n_.log_->error("event=record_read_failed digest={} reason=\"{}\"", digest_.ShortHex(),
                   s.ToString());
    reader_.reset();
    // Read the whole copy again, on the service's writer threads (a large blob takes seconds: not
    // on the io thread, nor on a gRPC thread that serves other calls); once at a time per blob,
    // however often readers retry. Only proven corruption (DataLoss) is repaired: a transient
    // read error must not delete a good copy. The call ends after the check, from that thread.
    if (!svc_.BeginVerify(digest_)) return Finish(ToGrpc(s));
    boost::asio::post(svc_.writers(), [this, s] {
      const Status check = n_.blobs_->Verify(digest_);
      svc_.EndVerify(digest_);
      if (check.code() == StatusCode::kDataLoss) {
        n_.log_->error("event=blob_corrupt digest={} reason=\"{}\"", digest_.ShortHex(),
                       check.ToString());
        n_.PostApi([&n = n_, digest = digest_] { n.RepairBlob(digest); }, [](const Status&) {});
      }
      Finish(ToGrpc(s));
    });
  }

  Node& n_;
  Node::ApiService& svc_;
  grpc::GenericCallbackServerContext* ctx_;
  grpc::ByteBuffer in_;
  grpc::ByteBuffer out_;
  v1::GetRecordRequest req_;
  crypto::Digest digest_;
  std::unique_ptr<storage::BlobReader> reader_;
  std::optional<crypto::PayloadDecryptor> decryptor_;
  Bytes piece_;
  Bytes plain_;
  bool done_ = false;
};

namespace {

class Refuse final : public grpc::ServerGenericBidiReactor {
 public:
  explicit Refuse(grpc::Status s) { Finish(std::move(s)); }
  void OnDone() override { delete this; }
};

}  // namespace

// Parses the request as `Request`, runs `fn(caller, request, response, done)` and serializes the
// response. Request and response live until `done` is called.
template <typename Request, typename Response, typename Fn>
Node::ApiService::Handler Node::ApiService::Typed(const char* what, Fn fn) {
  return [what, fn](const ledger::UserState& caller, const std::string& raw,
                    Node::ApiService::Done done) {
    auto req = std::make_shared<Request>();
    auto resp = std::make_shared<Response>();
    if (!req->ParseFromString(raw)) {
      return done(Status::InvalidArgument(std::string("the request is not a valid ") + what +
                                          " message (proto/ertr/v1/api.proto)"));
    }
    fn(caller, *req, *resp, [req, resp, done](const Status& s) {
      if (!s.ok()) return done(s);
      done(resp->SerializeAsString());
    });
  };
}

Node::ApiService::ApiService(Node& node) : n_(node) {
  using Caller = const ledger::UserState&;
  using DoneS = std::function<void(const Status&)>;
  const std::string p = "/ertr.v1.Ertr/";
  unary_[p + "GetStatus"] = Typed<v1::GetStatusRequest, v1::NodeStatus>(
      "GetStatusRequest", [this](Caller, auto&, auto& resp, DoneS done) {
        n_.ApiStatus(resp);
        done(Status::Ok());
      });
  unary_[p + "SubmitTransaction"] =
      Typed<v1::SubmitTransactionRequest, v1::SubmitTransactionResponse>(
          "SubmitTransactionRequest",
          [this](Caller, auto& req, auto& resp, DoneS done) { n_.ApiSubmit(req, resp, done); });
  unary_[p + "SubmitTransactions"] =
      Typed<v1::SubmitTransactionsRequest, v1::SubmitTransactionsResponse>(
          "SubmitTransactionsRequest", [this](Caller, auto& req, auto& resp, DoneS done) {
            n_.ApiSubmitBatch(req, resp, done);
          });
  unary_[p + "GetTransaction"] = Typed<v1::GetTransactionRequest, v1::TransactionInfo>(
      "GetTransactionRequest",
      [this](Caller, auto& req, auto& resp, DoneS done) { done(n_.ApiGetTransaction(req, resp)); });
  unary_[p + "ListRecords"] = Typed<v1::ListRecordsRequest, v1::ListRecordsResponse>(
      "ListRecordsRequest", [this](Caller c, auto& req, auto& resp, DoneS done) {
        done(n_.ApiListRecords(c, req, resp));
      });
  unary_[p + "ListGrants"] = Typed<v1::ListGrantsRequest, v1::ListGrantsResponse>(
      "ListGrantsRequest", [this](Caller c, auto& req, auto& resp, DoneS done) {
        done(n_.ApiListGrants(c, req, resp));
      });
  unary_[p + "GetAuditTrail"] = Typed<v1::GetAuditTrailRequest, v1::GetAuditTrailResponse>(
      "GetAuditTrailRequest", [this](Caller c, auto& req, auto& resp, DoneS done) {
        done(n_.ApiAuditTrail(c, req, resp));
      });
  unary_[p + "GetReceipt"] = Typed<v1::GetReceiptRequest, v1::Receipt>(
      "GetReceiptRequest",
      [this](Caller, auto& req, auto& resp, DoneS done) { done(n_.ApiGetReceipt(req, resp)); });
  unary_[p + "GetBlock"] = Typed<v1::GetBlockRequest, v1::Block>(
      "GetBlockRequest",
      [this](Caller, auto& req, auto& resp, DoneS done) { done(n_.ApiGetBlock(req, resp)); });
}

grpc::ServerGenericBidiReactor* Node::ApiService::CreateReactor(
    grpc::GenericCallbackServerContext* ctx) {
  const std::string& method = ctx->method();
  if (method == "/ertr.v1.Ertr/UploadRecord") return new UploadCall(n_, *this, ctx, upload_slots_);
  if (method == "/ertr.v1.Ertr/GetRecord") return new ReadCall(n_, *this, ctx);
  auto it = unary_.find(method);
  if (it != unary_.end()) return new UnaryCall(*this, ctx, it->second);
  return new Refuse(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                                 "no method " + method + " in ertr.v1.Ertr (docs/api.md)"));
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and the io-thread queue.

Status Node::LoadApiTls(std::string_view node_passphrase) {
  if (config_.api_tls_cert_file.empty()) return Status::Ok();
  const std::string cert_what =
      config_.Resolve(config_.api_tls_cert_file).string() + " (api.tls_cert_file)";
  const std::string key_what =
      config_.Resolve(config_.api_tls_key_file).string() + " (api.tls_key_file)";
  {
    std::ifstream in(config_.Resolve(config_.api_tls_cert_file), std::ios::binary);
    std::stringstream text;
    if (!in || !(text << in.rdbuf())) return Status::NotFound("cannot read " + cert_what);
    api_tls_cert_ = text.str();
  }
  // The key straight into guarded memory (a plain key is the secret itself).
  ERTR_ASSIGN_OR_RETURN(auto key_file,
                        crypto::ReadSecretFile(config_.Resolve(config_.api_tls_key_file).string(),
                                               1u << 20, key_what));
  const std::string_view key_text(reinterpret_cast<const char*>(key_file.data()), key_file.size());
  std::optional<crypto::SecureBuffer> key_pass;
  std::string pass_what = "api.tls_key_passphrase_file";
  if (!config_.api_tls_key_passphrase_file.empty()) {
    const auto file = config_.Resolve(config_.api_tls_key_passphrase_file).string();
    pass_what = file + " (api.tls_key_passphrase_file)";
    auto read = crypto::ReadPassphrase(file, "", "api.tls_key_passphrase_file");
    if (!read) return read.error().WithContext(pass_what);
    // PEM encryption derives its key with PBKDF2 (or MD5): the node's passphrase there would be
    // open to cheap offline guessing from a stolen key file (ADR 0035).
    if (crypto::ConstantTimeEqual({read->data(), read->size()},
                                  {reinterpret_cast<const std::uint8_t*>(node_passphrase.data()),
                                   node_passphrase.size()})) {
      return Status::InvalidArgument(
          pass_what +
          " holds the node's key passphrase: the TLS key needs a passphrase of its own, since PEM "
          "encryption lets a stolen key file test guesses far faster than the node's key files "
          "do (docs/adr/0035)");
    }
    key_pass.emplace(std::move(*read));
  }
  const std::string_view pass =
      key_pass ? std::string_view(reinterpret_cast<const char*>(key_pass->data()), key_pass->size())
               : std::string_view();
  // gRPC would report a bad file only as a port it cannot listen on.
  ERTR_ASSIGN_OR_RETURN(auto key, crypto::UnlockPemKeyPair(api_tls_cert_, key_text, pass, cert_what,
                                                           key_what, pass_what));
  if (!crypto::IsEncryptedPemKey(key_text)) {
    log_->warn(
        "event=tls_key_unencrypted file=\"{}\" reason=\"the API's TLS private key is stored "
        "without encryption, protected only by its file's permissions\" hint=\"encrypt it under "
        "a passphrase of its own (not the node's), e.g. openssl pkcs8 -topk8 -scrypt -in "
        "plain.key -out api.key -passout file:tls-passphrase, set api.tls_key_file and "
        "api.tls_key_passphrase_file, and delete the plain file\"",
        key_what);
  }
  api_tls_key_.emplace(std::move(key));
  return Status::Ok();
}

Status Node::StartApi() {
  api_service_ = std::make_shared<ApiService>(*this);
  grpc::ServerBuilder builder;
  std::shared_ptr<grpc::ServerCredentials> creds;
  if (config_.api_tls_cert_file.empty()) {
    creds = grpc::InsecureServerCredentials();  // loopback only: config validation enforces it
  } else {
    if (!api_tls_key_) return Status::Internal("the API's TLS key was not loaded (or used twice)");
    grpc::SslServerCredentialsOptions opts;
    opts.pem_key_cert_pairs.push_back(
        {std::string(reinterpret_cast<const char*>(api_tls_key_->data()), api_tls_key_->size()),
         api_tls_cert_});
    api_tls_key_.reset();
    creds = grpc::SslServerCredentials(opts);
    Wipe(opts.pem_key_cert_pairs.front().private_key);
  }
  const std::string address = config_.api_host + ":" + std::to_string(config_.api_port);
  // gRPC sets SO_REUSEPORT by default: a second node given the same port would share it, and
  // the kernel would hand each call to either. The port must be refused instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A fixed receive window per call instead of one gRPC grows by probing the bandwidth: while a
  // large upload waits on the disk, the probed window let the client run tens of MiB ahead, most
  // of the uploading node's memory growth (docs/benchmarks.md, the 1 GiB record).
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, static_cast<int>(kApiWindow));
  {
    // Tried first with a socket of our own: gRPC reports a port it cannot listen on only as a
    // failed start, after raw log lines of its own.
    boost::asio::ip::tcp::acceptor probe(io_);
    ERTR_RETURN_IF_ERROR(net::ListenOn(probe, config_.api_host, config_.api_port, "api.listen"));
  }
  builder.AddListeningPort(address, creds, &api_port_);
  builder.RegisterCallbackGenericService(api_service_.get());
  builder.SetMaxReceiveMessageSize(static_cast<int>(kMaxUploadChunk + (64u << 10)));
  builder.SetMaxSendMessageSize(16 << 20);
  grpc_server_ = std::shared_ptr<grpc::Server>(builder.BuildAndStart());
  if (!grpc_server_ || api_port_ == 0) {
    return Status::Unavailable("cannot serve the API on " + address +
                               " (config field 'api.listen'): is the port in use?");
  }
  return Status::Ok();
}

void Node::PostApi(std::function<void()> run, std::function<void(const Status&)> cancel) {
  Status refused = Status::Unavailable("the node is shutting down; retry when it is back");
  {
    std::lock_guard lock(api_mu_);
    if (!api_closed_ && api_queue_.size() < kMaxApiQueue) {
      api_queue_.push_back({std::move(run), std::move(cancel)});
      boost::asio::post(io_, [this] { DrainApi(); });
      return;
    }
    if (!api_closed_) refused = Status::ResourceExhausted("the node is busy; retry shortly");
  }
  cancel(refused);
}

void Node::DrainApi() {
  std::deque<ApiWork> work;
  {
    std::lock_guard lock(api_mu_);
    work.swap(api_queue_);
  }
  for (auto& w : work) w.run();
}

std::uint64_t Node::ApiRefused() const { return api_service_ ? api_service_->refused() : 0; }

void Node::ApiService::EndIdleUploads(std::chrono::steady_clock::time_point now,
                                      std::chrono::seconds idle) {
  std::uint64_t ended = 0;
  {
    // EndIfIdle only marks a call and hands its end to another thread: none is removed (OnDone)
    // while this holds the lock.
    std::lock_guard lock(uploads_mu_);
    for (UploadCall* call : uploads_) {
      if (call->EndIfIdle(now, idle)) ++ended;
    }
  }
  if (ended == 0) return;
  idle_uploads_ended_ += ended;
  n_.log_->warn(
      "event=api_uploads_idle_ended count={} reason=\"no message from the client for {} s\"", ended,
      idle.count());
}

void Node::ApiService::EndIdleCalls(std::chrono::steady_clock::time_point now,
                                    std::chrono::seconds idle) {
  std::uint64_t ended = 0;
  {
    // A call leaves the map in OnDone, under this lock: none is cancelled after it is gone.
    std::lock_guard lock(watched_mu_);
    for (auto& [call, w] : watched_) {
      if (!w.waiting || now - w.since < idle) continue;
      w.waiting = false;  // cancelled once; its pending operation ends it (ok = false)
      w.ctx->TryCancel();
      ++ended;
    }
  }
  if (ended == 0) return;
  idle_calls_ended_ += ended;
  n_.log_->warn(
      "event=api_calls_idle_ended count={} reason=\"the client sent no request, or took no "
      "response, for {} s\"",
      ended, idle.count());
}

void Node::TickApiService() {
  if (!api_service_) return;
  const auto now = std::chrono::steady_clock::now();
  api_service_->EndIdleUploads(now, std::chrono::seconds(config_.api_upload_idle_seconds));
  api_service_->EndIdleCalls(now, std::chrono::seconds(config_.api_upload_idle_seconds));
  api_service_->LogUnloggedRefusals(now);
}

std::uint64_t Node::ApiIdleCallsEnded() const {
  return api_service_ ? api_service_->idle_calls_ended() : 0;
}

std::uint64_t Node::ApiIdleUploadsEnded() const {
  return api_service_ ? api_service_->idle_uploads_ended() : 0;
}

std::uint64_t Node::ApiUploadsInProgress(bool small) const {
  if (!api_service_) return 0;
  const auto& slots = api_service_->upload_slots();
  // A refused upload holds its count until its call ends: the figure can exceed the bound briefly.
  return static_cast<std::uint64_t>(std::max(0, (small ? slots.small : slots.large).load()));
}

void Node::CloseApi() {
  std::deque<ApiWork> work;
  {
    std::lock_guard lock(api_mu_);
    api_closed_ = true;
    work.swap(api_queue_);
  }
  for (auto& w : work)
    w.cancel(Status::Unavailable("the node is shutting down; retry when it is back"));
  for (auto& w : commit_waiters_.TakeAll()) w.done(nullptr, 0, nullptr, nullptr);
  // Uploads waiting for their pushes' receivers go on without them (the io thread has stopped).
  if (replicator_) replicator_->DropPushes();
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
