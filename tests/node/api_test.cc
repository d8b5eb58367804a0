// Integration tests of the integrator gRPC API (issue 6 acceptance) on a local 4-node network of
// real ertrd processes, through cli::ApiClient and raw gRPC stubs.

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>

#include <grpcpp/generic/generic_stub.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <random>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "crypto/hash.h"
#include "crypto/secure_buffer.h"
#include "crypto/sha256.h"
#include "node/testnet.h"
#include "proto/api_auth.h"
#include "proto/api_codec.h"
#include "proto/ledger_codec.h"
#include "proto/receipt.h"
#include "tests/node/cluster.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace ertr::testing {
namespace {

namespace v1 = ertr::v1;

std::string Inst(int i) { return std::string("hosp-") + static_cast<char>('a' + i); }

// Registers a user with the given role at hospital `inst` (signed by its admin).
crypto::SigningKey NewUser(Cluster& c, int inst, ledger::Role role) {
  auto key = crypto::SigningKey::Generate();
  auto r = c.Client(inst, c.admin_key(inst))
               ->Submit(ledger::RegisterUser{Inst(inst), key.public_key(), role,
                                             "staff-" + key.public_key().ShortHex()});
  INFO((r ? "" : r.error().ToString()));
  REQUIRE(r.has_value());
  return key;
}

// A patient registered at hosp-a by its admin, through node 0.
ledger::Pseudonym NewPatient(Cluster& c) {
  const auto patient = crypto::RandomNonZeroId<ledger::Pseudonym>();
  auto r = c.Client(0, c.admin_key(0))->Submit(ledger::RegisterPatient{patient, "hosp-a", {}});
  INFO((r ? "" : r.error().ToString()));
  REQUIRE(r.has_value());
  return patient;
}

Result<std::string> Read(Cluster& c, int via, const crypto::SigningKey& user,
                         const ledger::RecordId& record) {
  std::ostringstream out;
  ERTR_RETURN_IF_ERROR(c.Client(via, user)->GetRecord(record, "treatment", out).status());
  return out.str();
}

// Retries a read while the node answers UNAVAILABLE (a key share or a blob still on its way).
Result<std::string> ReadSoon(Cluster& c, int via, const crypto::SigningKey& user,
                             const ledger::RecordId& record) {
  Result<std::string> got = Status::Internal("not read");
  Cluster::WaitFor([&] {
    got = Read(c, via, user, record);
    return got.has_value() || got.error().code() != StatusCode::kUnavailable;
  });
  return got;
}

ledger::RecordId IdOf(const std::string& raw) {
  return *ledger::RecordId::FromSpan(AsBytes(raw), "record_id");
}

std::vector<v1::AuditEntryInfo> Audit(Cluster& c, const ledger::Pseudonym& patient) {
  v1::GetAuditTrailRequest req;
  req.set_patient_pseudonym(std::string(AsStringView(patient.span())));
  auto trail = c.Client(0, c.admin_key(0))->AuditTrail(req);
  REQUIRE(trail.has_value());
  return {trail->entries().begin(), trail->entries().end()};
}

bool HasAudit(Cluster& c, const ledger::Pseudonym& patient, const std::string& kind,
              const crypto::PublicKey& actor, const std::string& detail_part, bool flagged) {
  for (const auto& e : Audit(c, patient)) {
    if (e.kind() == kind && e.actor() == AsStringView(actor.span()) &&
        e.detail().find(detail_part) != std::string::npos && e.flagged() == flagged) {
      return true;
    }
  }
  return false;
}

std::uint64_t NowMs() { return node::WallClockMs(); }

// Submits through `client` and waits until node `node` has applied the block too (a commit
// answered by one node reaches the others a moment later).
void SubmitSeen(Cluster& c, cli::ApiClient& client, int node, const ledger::Payload& payload) {
  auto r = client.Submit(payload);
  INFO((r ? "" : r.error().ToString()));
  REQUIRE(r.has_value());
  const auto h = r->response.height();
  REQUIRE(Cluster::WaitFor([&] {
    auto s = c.Status(node);
    return s && s->height >= h;
  }));
}

TEST_CASE("records through the API: authorised reads, consent, break-glass, erasure, receipts",
          "[integration][slow]") {
  Cluster c(4);
  c.StartAll();
  auto phys_a = NewUser(c, 0, ledger::Role::kPhysician);
  auto phys_b = NewUser(c, 1, ledger::Role::kPhysician);
  auto auditor_c = NewUser(c, 2, ledger::Role::kAuditor);
  auto admin_a = c.Client(0, c.admin_key(0));
  const auto patient = NewPatient(c);

  Bytes plain(10'000);
  crypto::RandomBytes(plain);
  std::istringstream in(std::string(AsStringView(plain)));
  auto up = c.Client(0, phys_a)->SubmitRecord(patient, ledger::RecordKind::kRtBeamsTreatmentRecord,
                                              in, plain.size());
  INFO((up ? "" : up.error().ToString()));
  REQUIRE(up.has_value());
  REQUIRE(up->submit.response.status() == v1::TRANSACTION_STATUS_ACCEPTED);
  const auto record = IdOf(up->upload.record_id());
  // Its ciphertext (a small blob) reached every other node once, and came along with its
  // transaction's gossip (ADR 0029) to the first node at least: the uploader sends the gossip
  // before its announcement on every link, so no node can pull it from the uploader first. A node
  // that hears another peer's announcement before the uploader's gossip arrives pulls it from that
  // peer instead, which a slow machine's timing allows (seen under ASan).
  long long offered = 0;
  for (int i = 1; i < 4; ++i) {
    CHECK(Cluster::WaitFor([&] { return c.Metric(i, "ertr_blobs_received_total") == 1; }));
    offered += c.Metric(i, "ertr_blobs_offered_total");
  }
  CHECK(offered >= 1);
  CHECK(c.Metric(0, "ertr_blobs_offered_total") == 0);
  // Every node timed its disk's syncs: the consensus log's, and the blob's before it announced
  // holding it.
  for (int i = 0; i < 4; ++i) {
    CHECK(c.Metric(i, R"(ertr_disk_sync_seconds_count\{log="consensus"\})") > 0);
    CHECK(c.Metric(i, R"(ertr_disk_sync_seconds_count\{log="blobs"\})") > 0);
  }
  CHECK(c.Metric(0, "ertr_commit_latency_seconds_count") >= 1);

  // The submitting physician's institution reads it back bit-exact.
  auto mine = Read(c, 0, phys_a, record);
  REQUIRE(mine.has_value());
  CHECK(*mine == std::string(AsStringView(plain)));

  // Another hospital's physician is refused, and the refusal is audited (once node 1 has applied
  // the record's block: the commit was answered by node 0, node 1 may be a moment behind).
  const auto record_height = up->submit.response.height();
  REQUIRE(Cluster::WaitFor([&] {
    auto s = c.Status(1);
    return s && s->height >= record_height;
  }));
  auto denied = Read(c, 1, phys_b, record);
  REQUIRE_FALSE(denied.has_value());
  CHECK(denied.error().code() == StatusCode::kPermissionDenied);
  CHECK(denied.error().message().find("no_consent") != std::string::npos);
  CHECK(Cluster::WaitFor([&] {
    return HasAudit(c, patient, "access_denied", phys_b.public_key(), "no_consent", false);
  }));
  CHECK(c.Log(1).find("event=read_denied record=" + record.ShortHex() + " reason=no_consent") !=
        std::string::npos);
  // One record's audit trail: as the patient's (docs/api.md). Hospital B may see neither yet;
  // once it has submitted a record of this patient, it sees the patient's trail, and so each
  // record's, this one included (it still cannot read the record).
  v1::GetAuditTrailRequest by_record;
  by_record.set_record_id(std::string(AsStringView(record.span())));
  auto hidden = c.Client(1, phys_b)->AuditTrail(by_record);
  REQUIRE_FALSE(hidden.has_value());
  CHECK(hidden.error().code() == StatusCode::kPermissionDenied);
  {
    std::istringstream own_in("a clearly synthetic note from hospital B");
    auto own = c.Client(1, phys_b)->SubmitRecord(patient, ledger::RecordKind::kDocument, own_in,
                                                 own_in.str().size());
    REQUIRE(own.has_value());
  }
  REQUIRE(Cluster::WaitFor([&] { return c.Client(1, phys_b)->AuditTrail(by_record).has_value(); }));
  auto shown = c.Client(1, phys_b)->AuditTrail(by_record);
  REQUIRE(shown.has_value());
  REQUIRE(shown->entries_size() >= 2);
  CHECK(shown->entries(0).kind() == "record_submitted");
  for (const auto& e : shown->entries()) CHECK(e.record_id() == AsStringView(record.span()));
  // Reads go through the reader's own institution's node.
  auto wrong_node = Read(c, 0, phys_b, record);
  REQUIRE_FALSE(wrong_node.has_value());
  CHECK(wrong_node.error().code() == StatusCode::kPermissionDenied);
  CHECK(c.Log(0).find("reason=other_institution user=" + phys_b.public_key().ShortHex() +
                      " institution=hosp-b") != std::string::npos);

  // A blob altered on this node's disk is never served: the read fails (the reader discards what
  // it got), the node logs it, deletes its copy and pulls a good one from its peers.
  {
    Bytes big(200'000);  // over the small-blob size: a file of its own
    crypto::RandomBytes(big);
    std::istringstream big_in(std::string(AsStringView(big)));
    auto big_up = c.Client(0, phys_a)->SubmitRecord(
        patient, ledger::RecordKind::kRtBeamsTreatmentRecord, big_in, big.size());
    REQUIRE(big_up.has_value());
    const auto big_record = IdOf(big_up->upload.record_id());
    const std::string hex =
        crypto::Digest::FromSpan(AsBytes(big_up->upload.ciphertext_digest()), "digest")->ToHex();
    const auto file =
        std::filesystem::path(c.home(0)) / "data" / "blobs" / "objects" / hex.substr(0, 2) / hex;
    REQUIRE(std::filesystem::exists(file));
    std::filesystem::permissions(file, std::filesystem::perms::owner_write,
                                 std::filesystem::perm_options::add);
    {
      std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
      f.seekg(100'000);
      const char was = static_cast<char>(f.get());
      f.seekp(100'000);
      f.put(static_cast<char>(was ^ 0x5a));
    }
    auto corrupt = Read(c, 0, phys_a, big_record);
    REQUIRE_FALSE(corrupt.has_value());
    CHECK(corrupt.error().code() == StatusCode::kDataLoss);
    CHECK_FALSE(corrupt.error().message().empty());
    CHECK(Cluster::WaitFor(
        [&] {
          const auto log = c.Log(0);
          return log.find("event=record_read_failed") != std::string::npos &&
                 log.find("event=blob_corrupt digest=" + hex.substr(0, 8)) != std::string::npos;
        },
        30));
    Result<std::string> repaired = Status::Internal("");
    CHECK(Cluster::WaitFor(
        [&] {
          repaired = Read(c, 0, phys_a, big_record);
          return repaired.has_value();
        },
        60));
    CHECK((repaired.has_value() && *repaired == std::string(AsStringView(big))));
  }
  // Auditors read audit trails, not payloads.
  CHECK_FALSE(Read(c, 2, auditor_c, record).has_value());

  // A grant to hospital B with a short expiry: B reads, then the expiry is honoured.
  const auto expiring = crypto::RandomNonZeroId<ledger::GrantId>();
  const std::uint64_t expires_at = NowMs() + 6000;
  SubmitSeen(c, *admin_a, 1,
             ledger::GrantConsent{expiring, patient, ledger::GranteeInstitution{"hosp-b"},
                                  ledger::ScopeAll{}, expires_at});
  auto theirs = ReadSoon(c, 1, phys_b, record);
  INFO((theirs ? "" : theirs.error().ToString()));
  REQUIRE(theirs.has_value());
  CHECK(*theirs == std::string(AsStringView(plain)));
  REQUIRE(Cluster::WaitFor([&] { return NowMs() > expires_at + 200; }, 30));
  auto expired = Read(c, 1, phys_b, record);
  REQUIRE_FALSE(expired.has_value());
  CHECK(expired.error().message().find("expired_grant") != std::string::npos);

  // A grant to B's physician by key; revoking it refuses again.
  const auto personal = crypto::RandomNonZeroId<ledger::GrantId>();
  SubmitSeen(c, *admin_a, 1,
             ledger::GrantConsent{personal, patient, ledger::GranteeUser{phys_b.public_key()},
                                  ledger::ScopeRecord{record}, 0});
  auto personal_read = ReadSoon(c, 1, phys_b, record);
  INFO((personal_read ? "" : personal_read.error().ToString()));
  std::string diag;
  if (!personal_read) {
    auto seen = c.Client(1, c.admin_key(0))->ListGrants(patient);
    if (seen) diag = "node 1 grants: " + seen->DebugString();
    diag += "\nnode 1 height " + std::to_string(c.Status(1)->height) + ", node 0 " +
            std::to_string(c.Status(0)->height) + "\n" + c.Log(1);
  }
  INFO(diag);
  REQUIRE(personal_read.has_value());
  auto grants = admin_a->ListGrants(patient);
  REQUIRE(grants.has_value());
  REQUIRE(grants->grants_size() == 2);
  SubmitSeen(c, *admin_a, 1, ledger::RevokeConsent{personal, patient});
  auto revoked = Read(c, 1, phys_b, record);
  REQUIRE_FALSE(revoked.has_value());
  CHECK(revoked.error().code() == StatusCode::kPermissionDenied);
  // Both of B's grants are gone; the policy names the expired one first (docs/spec/ledger.md 4.1).
  CHECK(revoked.error().message().find("expired_grant") != std::string::npos);
  auto listed = c.Client(1, phys_b)->ListRecords(patient);
  REQUIRE(listed.has_value());
  REQUIRE(listed->records_size() == 1);  // only B's own note
  CHECK(listed->records(0).record_id() != AsStringView(record.span()));

  // Break-glass: B reads, and the read is flagged in the audit trail.
  SubmitSeen(c, *c.Client(1, phys_b), 1,
             ledger::BreakGlass{patient, "emergency-treatment", 10 * 60 * 1000});
  REQUIRE(ReadSoon(c, 1, phys_b, record).has_value());
  CHECK(Cluster::WaitFor(
      [&] { return HasAudit(c, patient, "access_break_glass", phys_b.public_key(), "", true); }));

  // Receipts verify offline against the genesis; any tampering is caught.
  auto genesis_tx = proto::LoadGenesis(c.home(0) + "/genesis.bin");
  REQUIRE(genesis_tx.has_value());
  const auto& genesis = std::get<ledger::Genesis>(*genesis_tx->payload);
  auto verifier = crypto::MakeEd25519Verifier();
  v1::GetReceiptRequest rreq;
  rreq.set_record_id(up->upload.record_id());
  auto receipt = c.Client(3, c.admin_key(3))->GetReceipt(rreq);
  INFO((receipt ? "" : receipt.error().ToString()));
  REQUIRE(receipt.has_value());
  for (const auto& r : {up->submit.response.receipt(), *receipt}) {
    const std::string bytes = r.SerializeAsString();
    auto ok = proto::VerifyReceipt(AsBytes(bytes), genesis, *verifier);
    INFO((ok ? "" : ok.error().ToString()));
    REQUIRE(ok.has_value());
    REQUIRE(ok->record.has_value());
    CHECK(ok->record->record_id == record);
    CHECK(ok->record->patient == patient);
  }
  std::vector<std::function<void(v1::Receipt&)>> tampers = {
      [](v1::Receipt& r) { (*r.mutable_transaction())[40] ^= 1; },
      [](v1::Receipt& r) { (*r.mutable_block_header())[10] ^= 1; },
      [](v1::Receipt& r) { (*r.mutable_commit_certificate())[60] ^= 1; },
      [](v1::Receipt& r) { r.set_tx_index(r.tx_index() + 1); },
      [](v1::Receipt& r) { r.mutable_record()->set_ciphertext_size(1); },
      [](v1::Receipt& r) { r.mutable_record()->set_kind(v1::RECORD_KIND_RT_DOSE); },
  };
  for (std::size_t t = 0; t < tampers.size(); ++t) {
    auto copy = *receipt;
    tampers[t](copy);
    const std::string bytes = copy.SerializeAsString();
    INFO("tamper " << t);
    auto verdict = proto::VerifyReceipt(AsBytes(bytes), genesis, *verifier);
    REQUIRE_FALSE(verdict.has_value());
    CHECK(verdict.error().code() == StatusCode::kDataLoss);
    CHECK(verdict.error().message().find("the receipt does not verify: ") == 0);
  }

  // Erasure: "erased" at every node, the record leaves the lists.
  REQUIRE(admin_a->Submit(ledger::EraseRecord{record, "patient-request"}).has_value());
  for (int i : {0, 1}) {
    const auto& user = i == 0 ? phys_a : phys_b;
    Result<std::string> gone = Status::Internal("");
    REQUIRE(Cluster::WaitFor([&] {
      gone = Read(c, i, user, record);
      return !gone.has_value() && gone.error().code() == StatusCode::kFailedPrecondition;
    }));
    CHECK(gone.error().message().find("erased") != std::string::npos);
  }
  auto after = c.Client(0, phys_a)->ListRecords(patient);
  REQUIRE(after.has_value());
  REQUIRE(after->records_size() == 1);  // the repaired 200 kB record stays; the erased one left
  CHECK(after->records(0).record_id() != std::string(AsStringView(record.span())));

  // Node 0 cut off from every other validator: the others could have revoked consent meanwhile,
  // so it serves no record until a peer is back.
  const auto kept = IdOf(after->records(0).record_id());
  REQUIRE(Read(c, 0, phys_a, kept).has_value());
  for (int i : {1, 2, 3}) c.Terminate(i);
  Result<std::string> cut_off = Status::Internal("");
  REQUIRE(Cluster::WaitFor([&] {
    cut_off = Read(c, 0, phys_a, kept);
    return !cut_off.has_value();
  }));
  CHECK(cut_off.error().code() == StatusCode::kUnavailable);
  CHECK(cut_off.error().message().find("connected to 0 other validators, fewer than the 1") !=
        std::string::npos);
  c.Start(1);
  CHECK(Cluster::WaitFor([&] { return Read(c, 0, phys_a, kept).has_value(); }));
}

// Bytes produced on the fly (1 MiB random block, varied per MiB), hashed as they are read.
class GeneratedStream : public std::streambuf {
 public:
  explicit GeneratedStream(std::uint64_t size) : left_(size), block_(1 << 20) {
    crypto::RandomBytes(block_);
  }
  crypto::Digest Digest() { return hasher_.Finish(); }

 protected:
  int_type underflow() override {
    if (left_ == 0) return traits_type::eof();
    buf_ = block_;
    for (int i = 0; i < 8; ++i)
      buf_[static_cast<std::size_t>(i)] ^= static_cast<std::uint8_t>(n_ >> (8 * i));
    ++n_;
    const std::size_t len = static_cast<std::size_t>(std::min<std::uint64_t>(left_, buf_.size()));
    left_ -= len;
    hasher_.Update(ByteSpan(buf_.data(), len));
    char* p = reinterpret_cast<char*>(buf_.data());
    setg(p, p, p + len);
    return traits_type::to_int_type(*p);
  }

 private:
  std::uint64_t left_;
  std::uint64_t n_ = 0;
  Bytes block_;
  Bytes buf_;
  crypto::Sha256Hasher hasher_;
};

class HashingSink : public std::streambuf {
 public:
  crypto::Digest Digest() { return hasher_.Finish(); }
  std::uint64_t size() const { return size_; }

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    hasher_.Update(ByteSpan(reinterpret_cast<const std::uint8_t*>(s), static_cast<std::size_t>(n)));
    size_ += static_cast<std::uint64_t>(n);
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      const char ch = traits_type::to_char_type(c);
      xsputn(&ch, 1);
    }
    return c;
  }

 private:
  crypto::Sha256Hasher hasher_;
  std::uint64_t size_ = 0;
};

std::uint64_t ProcKb(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(field + ":", 0) == 0) return std::stoull(line.substr(field.size() + 1));
  }
  return 0;
}

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// Uploads `size` generated bytes through node 0's client API as `user`'s record of the patient,
// and reads the committed record back: same size, same digest.
void UploadAndReadBack(Cluster& c, const crypto::SigningKey& user, const ledger::Pseudonym& patient,
                       ledger::RecordKind kind, std::uint64_t size) {
  GeneratedStream gen(size);
  std::istream in(&gen);
  auto up = c.Client(0, user)->SubmitRecord(patient, kind, in, size);
  INFO((up ? "" : up.error().ToString()));
  REQUIRE(up.has_value());
  CHECK(up->upload.plaintext_size() == size);
  const auto sent = gen.Digest();
  CHECK(up->upload.plaintext_digest() == AsStringView(sent.span()));
  HashingSink sink;
  std::ostream out(&sink);
  auto info = c.Client(0, user)->GetRecord(IdOf(up->upload.record_id()), "treatment", out);
  INFO((info ? "" : info.error().ToString()));
  REQUIRE(info.has_value());
  CHECK(sink.size() == size);
  CHECK(sink.Digest() == sent);
}

TEST_CASE("a 100 MiB record streams in and out bit-exact, with bounded node memory",
          "[integration][slow]") {
  Cluster c(4);
  c.StartAll();
  auto phys = NewUser(c, 0, ledger::Role::kPhysician);
  const auto patient = NewPatient(c);
  const std::uint64_t size = 100ull << 20;
  const std::uint64_t rss_before = ProcKb(c.pid(0), "VmRSS");
  UploadAndReadBack(c, phys, patient, ledger::RecordKind::kCtImage, size);
  const std::uint64_t peak = ProcKb(c.pid(0), "VmHWM");
  INFO("node RSS before " << rss_before / 1024 << " MiB, peak " << peak / 1024 << " MiB");
  if (!kSanitized) CHECK(peak < rss_before + 64 * 1024);  // ASan's quarantine keeps freed memory
}

// An insecure channel to node 0's API (loopback).
std::shared_ptr<grpc::Channel> ApiChannel(Cluster& c) {
  return grpc::CreateChannel("127.0.0.1:" + std::to_string(c.api_port(0)),
                             grpc::InsecureChannelCredentials());
}

// The SubmitRecord body a node prepared on upload, signed by `user` for SubmitTransaction.
v1::SignedTransaction SignedBody(Cluster& c, const crypto::SigningKey& user,
                                 const std::string& body) {
  auto sig = crypto::MakeEd25519Signer(user.Clone())
                 ->Sign(crypto::SigningDomain::kTransaction, c.chain_id(), AsBytes(body));
  REQUIRE(sig.has_value());
  v1::SignedTransaction tx;
  tx.set_body(body);
  tx.set_signature(std::string(AsStringView(sig->span())));
  return tx;
}

// A raw call with hand-made authentication headers.
grpc::Status RawStatus(Cluster& c, const std::map<std::string, std::string>& headers) {
  auto stub = v1::Ertr::NewStub(ApiChannel(c));
  grpc::ClientContext ctx;
  for (const auto& [k, v] : headers) ctx.AddMetadata(k, v);
  v1::NodeStatus resp;
  return stub->GetStatus(&ctx, v1::GetStatusRequest(), &resp);
}

std::map<std::string, std::string> Signed(Cluster& c, const crypto::SigningKey& key,
                                          std::uint64_t ts, const std::string& method,
                                          const std::string& request) {
  auto signer = crypto::MakeEd25519Signer(key.Clone());
  auto auth = proto::SignApiRequest(*signer, c.chain_id(), method, ts, AsBytes(request));
  REQUIRE(auth.has_value());
  return proto::ApiAuthHeaders(*auth);
}

// A raw UploadRecord call to `stub` as `user`, its signed start message (an RT plan of the
// patient, declaring `declared` bytes, 0: unknown) sent: the caller writes, ends or cancels it.
// What the upload tests start from: four nodes, a physician of hospital 0, a patient, and a stub
// of node 0.
struct UploadFixture {
  Cluster c{4};
  crypto::SigningKey phys = Started(c);
  ledger::Pseudonym patient = NewPatient(c);
  std::unique_ptr<v1::Ertr::Stub> stub = v1::Ertr::NewStub(ApiChannel(c));

  static crypto::SigningKey Started(Cluster& cluster) {
    cluster.StartAll();
    return NewUser(cluster, 0, ledger::Role::kPhysician);
  }
};

struct RawUpload {
  grpc::ClientContext ctx;
  v1::UploadRecordResponse resp;
  std::unique_ptr<grpc::ClientWriter<v1::UploadRecordRequest>> writer;
  bool started = false;  // the start message left
};
// Submits the SubmitRecord that node 0 prepared for upload `u`, signed by the fixture's physician,
// and waits: REQUIREs that it commits, accepted.
void CommitUpload(UploadFixture& f, const RawUpload& u) {
  auto committed =
      f.c.Client(0, f.phys)->SubmitSigned(SignedBody(f.c, f.phys, u.resp.transaction_body()), true);
  INFO((committed ? "" : committed.error().ToString()));
  REQUIRE(committed.has_value());
  CHECK(committed->response.status() == v1::TRANSACTION_STATUS_ACCEPTED);
}

std::unique_ptr<RawUpload> OpenUpload(Cluster& c, v1::Ertr::Stub& stub,
                                      const crypto::SigningKey& user,
                                      const ledger::Pseudonym& patient, std::uint64_t declared) {
  auto u = std::make_unique<RawUpload>();
  u->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(120));
  v1::UploadRecordRequest start;
  start.mutable_start()->set_patient_pseudonym(std::string(AsStringView(patient.span())));
  start.mutable_start()->set_kind(v1::RECORD_KIND_RT_PLAN);
  start.mutable_start()->set_plaintext_size(declared);
  for (const auto& [k, v] :
       Signed(c, user, NowMs(), "/ertr.v1.Ertr/UploadRecord", start.SerializeAsString())) {
    u->ctx.AddMetadata(k, v);
  }
  u->writer = stub.UploadRecord(&u->ctx, &u->resp);
  u->started = u->writer->Write(start);
  return u;
}

// A unary call of node 0 with exactly these request bytes, signed by hospital 0's admin.
grpc::Status RawCall(Cluster& c, const std::string& method, const std::string& raw) {
  grpc::GenericStub stub(ApiChannel(c));
  grpc::ClientContext ctx;
  for (const auto& [k, v] : Signed(c, c.admin_key(0), NowMs(), method, raw)) {
    ctx.AddMetadata(k, v);
  }
  grpc::Slice slice(raw);
  grpc::ByteBuffer req(&slice, 1), resp;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &req, &resp,
                 [&](grpc::Status s) { done.set_value(s); });
  return done.get_future().get();
}

// The files in node i's blob store directory `sub` ("tmp": uploads and pulls in progress).
std::size_t BlobFiles(Cluster& c, int i, const char* sub) {
  return CountFiles(c.home(i) + "/data/blobs/" + sub);
}

// A large upload (1 MiB chunks: sealed and written in the node's pipeline) that stops short or
// ends wrongly stores nothing, whichever stage its chunks were in, and the node takes the next
// upload as before.
TEST_CASE("a large upload cancelled or ended wrongly stores nothing, and the next one works",
          "[integration][slow]") {
  Cluster c(4);
  c.StartAll();
  auto phys = NewUser(c, 0, ledger::Role::kPhysician);
  const auto patient = NewPatient(c);
  const std::size_t objects_before = BlobFiles(c, 0, "objects");
  auto stub = v1::Ertr::NewStub(ApiChannel(c));
  // Sends start (declaring `declared` bytes, 0: unknown) and the chunks; then the end message with
  // `digest` unless `cancel`, in which case the call is cancelled instead.
  v1::UploadRecordResponse resp;
  auto upload = [&](std::uint64_t declared, const std::vector<std::string>& chunks,
                    const std::string& digest, bool cancel) {
    auto u = OpenUpload(c, *stub, phys, patient, declared);
    bool ok = u->started;
    v1::UploadRecordRequest chunk;
    for (std::size_t i = 0; ok && i < chunks.size(); ++i) {
      chunk.set_chunk(chunks[i]);
      ok = u->writer->Write(chunk);
    }
    CHECK(ok);
    if (cancel) {
      u->ctx.TryCancel();
    } else {
      v1::UploadRecordRequest end;
      end.mutable_end()->set_plaintext_digest(digest);
      u->writer->Write(end);
      u->writer->WritesDone();
    }
    auto status = u->writer->Finish();
    resp = u->resp;
    return status;
  };
  auto mib = [](int n) {
    return std::vector<std::string>(static_cast<std::size_t>(n), std::string(1u << 20, 'p'));
  };

  std::size_t stored = 0;  // records stored by the section
  SECTION("chunks alternating above and below the pipeline's size arrive whole and in order") {
    // Pipelined and at-once chunks mixed: each must be sealed and written in arrival order.
    const std::size_t sizes[] = {1u << 20, 1000, 300u << 10, 255u << 10, 2u << 20, 1, 256u << 10};
    std::vector<std::string> chunks;
    crypto::Sha256Hasher hasher;
    for (int i = 0; i < 25; ++i) {
      std::string part(sizes[static_cast<std::size_t>(i) % std::size(sizes)], '\0');
      crypto::RandomBytes(
          MutableByteSpan(reinterpret_cast<std::uint8_t*>(part.data()), part.size()));
      hasher.Update(AsBytes(part));
      chunks.push_back(std::move(part));
    }
    const auto sent = hasher.Finish();
    auto s = upload(0, chunks, std::string(AsStringView(sent.span())), false);
    INFO(s.error_message());
    REQUIRE(s.ok());
    stored = 1;
    CHECK(resp.plaintext_digest() == AsStringView(sent.span()));
    // Signed and committed, the record reads back as sent: the ciphertext was written in order.
    auto submitted =
        c.Client(0, phys)->SubmitSigned(SignedBody(c, phys, resp.transaction_body()), true);
    INFO((submitted ? "" : submitted.error().ToString()));
    REQUIRE(submitted.has_value());
    HashingSink sink;
    std::ostream out(&sink);
    auto info = c.Client(0, phys)->GetRecord(IdOf(resp.record_id()), "treatment", out);
    INFO((info ? "" : info.error().ToString()));
    REQUIRE(info.has_value());
    CHECK(sink.Digest() == sent);
  }
  SECTION("cancelled while its chunks are in flight") {
    auto s = upload(0, mib(12), "", true);
    CHECK(s.error_code() == grpc::StatusCode::CANCELLED);
  }
  SECTION("the plaintext digest in the end message does not match what arrived") {
    auto s = upload(0, mib(9), std::string(32, '\x07'), false);
    CHECK(s.error_code() == grpc::StatusCode::DATA_LOSS);
    CHECK(s.error_message().find("end.plaintext_digest") != std::string::npos);
  }
  SECTION("the plaintext digest in the end message is not a SHA-256") {
    auto s = upload(0, mib(3), std::string(5, '\x07'), false);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("end.plaintext_digest is 5 bytes") != std::string::npos);
  }
  SECTION("shorter than start.plaintext_size said") {
    auto s = upload(10u << 20, mib(7), "", false);
    CHECK(s.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(s.error_message().find("start.plaintext_size") != std::string::npos);
  }
  // The temporary file goes as the call ends (a cancelled call may end a moment later).
  CHECK(Cluster::WaitFor([&] { return BlobFiles(c, 0, "tmp") == 0; }, 10));
  CHECK(BlobFiles(c, 0, "objects") == objects_before + stored);

  // 5 pipelined chunks and a short last one.
  UploadAndReadBack(c, phys, patient, ledger::RecordKind::kRtPlan, (5ull << 20) + 12345);
}

// A client that opens uploads and goes silent (hung, or its connection half-open) must not hold
// the node's upload slots for ever: each upload waiting api.upload_idle_seconds for its next
// message is ended, and the slots serve others again. One that keeps sending is not ended.
TEST_CASE("uploads whose client goes silent are ended and free their slots",
          "[integration][slow]") {
  Cluster c(4);
  c.EditConfig(0, "upload_idle_seconds = 120", "upload_idle_seconds = 10");  // the least allowed
  c.StartAll();
  auto phys = NewUser(c, 0, ledger::Role::kPhysician);
  const auto patient = NewPatient(c);
  auto stub = v1::Ertr::NewStub(ApiChannel(c));
  // Other calls that wait on their client are ended too: a unary call that never sends its
  // request (no signature needed to open one), and a record read whose client never reads.
  grpc::GenericStub generic(ApiChannel(c));
  grpc::CompletionQueue cq;
  grpc::ClientContext mute_ctx;
  auto mute = generic.PrepareCall(&mute_ctx, "/ertr.v1.Ertr/GetStatus", &cq);
  mute->StartCall(reinterpret_cast<void*>(1));
  {
    void* tag = nullptr;
    bool ok = false;
    REQUIRE(cq.Next(&tag, &ok));
    REQUIRE(ok);
  }
  const std::string big(24u << 20, 'r');  // more than the flow-control windows hold
  std::istringstream big_in(big);
  auto big_up =
      c.Client(0, phys)->SubmitRecord(patient, ledger::RecordKind::kRtPlan, big_in, big.size());
  REQUIRE(big_up.has_value());
  grpc::ClientContext unread_ctx;
  v1::GetRecordRequest unread_req;
  unread_req.set_record_id(big_up->upload.record_id());
  unread_req.set_purpose("treatment");
  for (const auto& [k, v] :
       Signed(c, phys, NowMs(), "/ertr.v1.Ertr/GetRecord", unread_req.SerializeAsString())) {
    unread_ctx.AddMetadata(k, v);
  }
  auto unread = stub->GetRecord(&unread_ctx, unread_req);
  v1::UploadRecordRequest chunk;
  chunk.set_chunk(std::string(1000, 's'));
  // All but one of the slots for large (or undeclared) uploads, each after one chunk.
  std::vector<std::unique_ptr<RawUpload>> silent;
  for (int i = 0; i < 15; ++i) {
    silent.push_back(OpenUpload(c, *stub, phys, patient, 0));
    REQUIRE(silent.back()->started);
    REQUIRE(silent.back()->writer->Write(chunk));
  }
  // Meanwhile, in the last slot, an upload that sends a chunk every second for longer than the
  // idle limit.
  auto steady = OpenUpload(c, *stub, phys, patient, 0);
  REQUIRE(steady->started);
  crypto::Sha256Hasher hasher;
  bool steady_ok = true;
  for (int i = 0; i < 13 && steady_ok; ++i) {
    steady_ok = steady->writer->Write(chunk);
    hasher.Update(AsBytes(chunk.chunk()));
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  CHECK(steady_ok);
  // The silent ones are ended with a status that says why; the slots are free again.
  for (auto& u : silent) {
    const grpc::Status s = u->writer->Finish();
    CHECK(s.error_code() == grpc::StatusCode::UNAVAILABLE);
    CHECK(s.error_message().find("sent no message for 10 s") != std::string::npos);
  }
  CHECK(Cluster::WaitFor([&] { return c.Metric(0, "ertr_api_uploads_large") == 1; }, 30));
  CHECK(c.Metric(0, "ertr_api_uploads_idle_ended_total") == 15);
  CHECK(c.Log(0).find("event=api_uploads_idle_ended") != std::string::npos);
  // The mute call and the unread one were cancelled by then (13 s > 10 s of waiting).
  CHECK(Cluster::WaitFor([&] { return c.Metric(0, "ertr_api_calls_idle_ended_total") == 2; }, 30));
  {
    grpc::Status mute_status;
    mute->Finish(&mute_status, reinterpret_cast<void*>(2));
    void* tag = nullptr;
    bool ok = false;
    REQUIRE(cq.Next(&tag, &ok));
    CHECK(mute_status.error_code() == grpc::StatusCode::CANCELLED);
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  {
    v1::GetRecordResponse piece;
    while (unread->Read(&piece)) {
    }
    CHECK(unread->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  CHECK(c.Log(0).find("event=api_calls_idle_ended") != std::string::npos);
  // The steady one ends well.
  v1::UploadRecordRequest end;
  const auto digest = hasher.Finish();
  end.mutable_end()->set_plaintext_digest(std::string(AsStringView(digest.span())));
  REQUIRE(steady->writer->Write(end));
  steady->writer->WritesDone();
  const grpc::Status s = steady->writer->Finish();
  INFO(s.error_message());
  CHECK(s.ok());
  // Nothing of the ended uploads is left, and the next uploads work.
  CHECK(Cluster::WaitFor([&] { return BlobFiles(c, 0, "tmp") == 0; }, 10));
  UploadAndReadBack(c, phys, patient, ledger::RecordKind::kRtPlan, (1ull << 20) + 7);
}

// An upload declared at kPushBytes or more is copied to one first holder (f = 1) while it
// arrives (ADR 0032): that copy is there before the record is submitted, and the record commits
// and reads back. One that fails leaves nothing at the peers.
TEST_CASE_METHOD(
    UploadFixture,
    "a large upload is pushed to a first holder while it arrives and a failed one is not kept",
    "[integration][slow]") {
  std::size_t objects_before[4];
  for (int i = 0; i < 4; ++i) objects_before[i] = BlobFiles(c, i, "objects");
  const std::string part(1u << 20, 'q');
  crypto::Sha256Hasher hasher;
  for (int i = 0; i < 9; ++i) hasher.Update(AsBytes(part));
  const auto digest = hasher.Finish();
  auto u = OpenUpload(c, *stub, phys, patient, 9u << 20);
  bool ok = u->started;
  v1::UploadRecordRequest msg;
  msg.set_chunk(part);
  for (int i = 0; ok && i < 9; ++i) ok = u->writer->Write(msg);
  REQUIRE(ok);
  bool stored = false;  // the section stored the record
  SECTION("it ends well: the pushed copy is there before the record is submitted") {
    stored = true;
    msg.mutable_end()->set_plaintext_digest(std::string(AsStringView(digest.span())));
    u->writer->Write(msg);
    u->writer->WritesDone();
    auto s = u->writer->Finish();
    INFO(s.error_message());
    REQUIRE(s.ok());
    auto pushed_to = [&] {
      int n = 0;
      for (int i = 1; i < 4; ++i) n += c.Metric(i, "ertr_blobs_pushed_in_total") > 0 ? 1 : 0;
      return n;
    };
    REQUIRE(Cluster::WaitFor([&] { return pushed_to() == 1; }, 30));
    for (int i = 1; i < 4; ++i) {
      if (c.Metric(i, "ertr_blobs_pushed_in_total") > 0) {
        CHECK(BlobFiles(c, i, "objects") == objects_before[i] + 1);
      }
    }
    CommitUpload(*this, *u);
    HashingSink sink;
    std::ostream out(&sink);
    auto info = c.Client(0, phys)->GetRecord(IdOf(u->resp.record_id()), "treatment", out);
    INFO((info ? "" : info.error().ToString()));
    REQUIRE(info.has_value());
    CHECK(sink.Digest() == digest);
    CHECK(pushed_to() == 1);
    CHECK(c.Metric(0, "ertr_blob_push_receivers_dropped_total") == 0);
  }
  SECTION("its end says another digest: the push is aborted and the peers keep nothing") {
    msg.mutable_end()->set_plaintext_digest(std::string(32, '\x07'));
    u->writer->Write(msg);
    u->writer->WritesDone();
    CHECK(u->writer->Finish().error_code() == grpc::StatusCode::DATA_LOSS);
  }
  SECTION("it is cancelled: the push is aborted and the peers keep nothing") {
    u->ctx.TryCancel();
    CHECK(u->writer->Finish().error_code() == grpc::StatusCode::CANCELLED);
  }
  // Whatever happened, no push stays open and no temporary file stays behind; a failed upload's
  // push is aborted at once (within 8 s: before its receivers would drop it for silence).
  CHECK(Cluster::WaitFor(
      [&] {
        for (int i = 0; i < 4; ++i) {
          if (c.Metric(i, "ertr_blob_pushes_in") != 0 || c.Metric(i, "ertr_blob_pushes_out") != 0 ||
              BlobFiles(c, i, "tmp") != 0) {
            return false;
          }
        }
        return true;
      },
      8));
  if (!stored) {
    for (int i = 1; i < 4; ++i) CHECK(BlobFiles(c, i, "objects") == objects_before[i]);
  }
}

TEST_CASE_METHOD(UploadFixture,
                 "uploads in progress are bounded per node, small records apart from large ones",
                 "[integration][slow]") {
  // An upload left open after its start message holds a slot until it ends.
  auto begin = [&](std::uint64_t declared) {
    return OpenUpload(c, *stub, phys, patient, declared);
  };
  auto refused = [&](std::uint64_t declared) {
    auto o = begin(declared);
    o->writer->WritesDone();
    return o->writer->Finish();
  };
  auto gauge = [&](const std::string& name) { return c.Metric(0, name); };

  // Sixteen large uploads (of undeclared size or 1 MiB) fill their slots: a seventeenth is refused
  // and says why.
  std::vector<std::unique_ptr<RawUpload>> open;
  for (int i = 0; i < 16; ++i) {
    open.push_back(begin(i % 2 == 0 ? 0 : 1u << 20));
    CHECK(open.back()->started);
  }
  REQUIRE(WaitUntil([&] { return gauge("ertr_api_uploads_large") == 16; }, 30));
  auto s = refused(256u << 10);
  CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(s.error_message().find("(16 of records of 256 KiB or more); retry shortly") !=
        std::string::npos);
  // Small records still go through, whole.
  UploadAndReadBack(c, phys, patient, ledger::RecordKind::kRtPlan, 2048);
  // A small upload's message longer than its declared size is refused before it is parsed (parsed,
  // this chunk of 4 MiB and a byte would be refused as over the largest chunk instead).
  {
    auto o = begin(2048);
    v1::UploadRecordRequest chunk;
    chunk.set_chunk(std::string((4u << 20) + 1, 'x'));
    o->writer->Write(chunk);
    o->writer->WritesDone();
    auto st = o->writer->Finish();
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("longer than start.plaintext_size (2048 bytes)") !=
          std::string::npos);
  }
  // Small records have their own sixty-four slots.
  REQUIRE(WaitUntil([&] { return gauge("ertr_api_uploads_small") == 0; }, 30));
  for (int i = 0; i < 64; ++i) {
    open.push_back(begin(2048));
    CHECK(open.back()->started);
  }
  REQUIRE(WaitUntil([&] { return gauge("ertr_api_uploads_small") == 64; }, 30));
  s = refused((256u << 10) - 1);
  CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(s.error_message().find("(64 of records under 256 KiB)") != std::string::npos);

  // Cancelled, the uploads give their slots back; a large record then goes through.
  for (auto& o : open) o->ctx.TryCancel();
  for (auto& o : open) CHECK_FALSE(o->writer->Finish().ok());
  open.clear();
  CHECK(WaitUntil(
      [&] { return gauge("ertr_api_uploads_small") == 0 && gauge("ertr_api_uploads_large") == 0; },
      30));
  // A declared size over the largest record is refused as such, even one near 2^64, and not as
  // something to retry.
  for (const std::uint64_t declared : {(4ull << 30) + 1, ~0ull}) {
    auto st = refused(declared);
    CHECK(st.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
    CHECK(st.error_message().find("over the largest record") != std::string::npos);
  }
  UploadAndReadBack(c, phys, patient, ledger::RecordKind::kRtPlan, (1u << 20) + 3);
}

TEST_CASE("API calls must be signed by a registered user, fresh, and never replayed",
          "[integration][slow]") {
  Cluster c(4);
  c.StartAll();
  const std::string method = "/ertr.v1.Ertr/GetStatus";
  const std::string empty;
  auto good = Signed(c, c.admin_key(0), NowMs(), method, empty);
  CHECK(RawStatus(c, good).ok());
  auto replay = RawStatus(c, good);
  CHECK(replay.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(replay.error_message().find("used already") != std::string::npos);

  auto none = RawStatus(c, {});
  CHECK(none.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(none.error_message().find("ertr-user-key") != std::string::npos);

  auto stale = RawStatus(c, Signed(c, c.admin_key(0), NowMs() - 10 * 60 * 1000, method, empty));
  CHECK(stale.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(stale.error_message().find("clock") != std::string::npos);

  auto other_method =
      RawStatus(c, Signed(c, c.admin_key(0), NowMs(), "/ertr.v1.Ertr/GetBlock", empty));
  CHECK(other_method.error_code() == grpc::StatusCode::UNAUTHENTICATED);

  auto forged = Signed(c, c.admin_key(0), NowMs(), method, empty);
  forged[proto::kHeaderUserKey] = c.admin_key(1).public_key().ToHex();
  CHECK(RawStatus(c, forged).error_code() == grpc::StatusCode::UNAUTHENTICATED);

  auto stranger = RawStatus(c, Signed(c, crypto::SigningKey::Generate(), NowMs(), method, empty));
  CHECK(stranger.error_code() == grpc::StatusCode::UNAUTHENTICATED);
  CHECK(stranger.error_message().find("registered user") != std::string::npos);

  // Every refusal is logged with its reason and the caller's address, and counted.
  {
    const std::string log = c.Log(0);
    CHECK(log.find("event=api_refused method=/ertr.v1.Ertr/GetStatus") != std::string::npos);
    CHECK(log.find("used already") != std::string::npos);
    CHECK(log.find("registered user") != std::string::npos);
    // replay, none, stale, other method, forged, stranger
    CHECK(c.Metric(0, "ertr_api_refused_total") >= 6);
  }

  // Transactions: a forged one is refused with the reason and logged; a byte-identical retry of
  // a committed one gets its original outcome (applied once); the same nonce reused for another
  // transaction is rejected as replayed_nonce, and the rejection logged.
  {
    auto admin_signer = crypto::MakeEd25519Signer(c.admin_key(0).Clone());
    auto admin_client = c.Client(0, c.admin_key(0));
    ledger::TransactionHeader h;
    h.chain_id = c.chain_id();
    h.signer = admin_signer->public_key();
    h.nonce = crypto::RandomU64();
    auto make = [&](const ledger::Payload& payload) {
      auto tx = proto::MakeTransaction(h, payload, *admin_signer);
      REQUIRE(tx.has_value());
      v1::SignedTransaction msg;
      msg.set_body(std::string(AsStringView(tx->signed_tx.body)));
      msg.set_signature(std::string(AsStringView(tx->signed_tx.signature.span())));
      return msg;
    };
    auto genuine =
        make(ledger::RegisterPatient{crypto::RandomNonZeroId<ledger::Pseudonym>(), "hosp-a", {}});
    auto forged_tx = genuine;
    forged_tx.mutable_signature()->at(5) ^= 0x40;
    auto refused = admin_client->SubmitSigned(forged_tx);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error().code() == StatusCode::kUnauthenticated);
    CHECK(refused.error().message().find("signature does not verify") != std::string::npos);
    CHECK(c.Log(0).find("event=transaction_refused") != std::string::npos);

    auto first = admin_client->SubmitSigned(genuine);
    REQUIRE(first.has_value());
    auto again = admin_client->SubmitSigned(genuine);
    REQUIRE(again.has_value());
    CHECK(again->tx_id == first->tx_id);
    CHECK(again->response.height() == first->response.height());

    auto reused = admin_client->SubmitSigned(
        make(ledger::RegisterPatient{crypto::RandomNonZeroId<ledger::Pseudonym>(), "hosp-a", {}}));
    REQUIRE_FALSE(reused.has_value());
    CHECK(reused.error().code() == StatusCode::kAlreadyExists);
    CHECK(reused.error().message().find("replayed_nonce") != std::string::npos);
    CHECK(Cluster::WaitFor(
        [&] {
          return c.Log(0).find("event=transaction_rejected") != std::string::npos &&
                 c.Log(0).find("reason=replayed_nonce field=nonce") != std::string::npos;
        },
        30));
  }

  // Malformed requests name the field; oversize messages are refused; the node carries on.
  auto admin = c.Client(0, c.admin_key(0));
  v1::GetAuditTrailRequest bad;
  bad.set_record_id("abc");
  auto r = admin->AuditTrail(bad);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kInvalidArgument);
  CHECK(r.error().message().find("record_id") != std::string::npos);
  auto unknown = admin->GetBlock(1'000'000);
  REQUIRE_FALSE(unknown.has_value());
  CHECK(unknown.error().code() == StatusCode::kNotFound);
  auto rejected = admin->Submit(ledger::RegisterPatient{
      crypto::RandomNonZeroId<ledger::Pseudonym>(), "no-such-hospital", {}});
  REQUIRE_FALSE(rejected.has_value());
  CHECK(rejected.error().code() == StatusCode::kNotFound);
  CHECK(rejected.error().message().find("unknown_institution") != std::string::npos);

  {
    auto stub = v1::Ertr::NewStub(ApiChannel(c));
    v1::UploadRecordRequest start;
    start.mutable_start()->set_patient_pseudonym(std::string(16, '\x01'));
    start.mutable_start()->set_kind(v1::RECORD_KIND_RT_PLAN);
    grpc::ClientContext ctx;
    for (const auto& [k, v] : Signed(c, c.admin_key(0), NowMs(), "/ertr.v1.Ertr/UploadRecord",
                                     start.SerializeAsString())) {
      ctx.AddMetadata(k, v);
    }
    v1::UploadRecordResponse resp;
    auto writer = stub->UploadRecord(&ctx, &resp);
    writer->Write(start);
    v1::UploadRecordRequest huge;
    huge.set_chunk(std::string(5u << 20, 'x'));
    writer->Write(huge);
    writer->WritesDone();
    auto s = writer->Finish();
    CHECK_FALSE(s.ok());  // an admin may not upload, and the chunk is over the limit anyway
  }
  CHECK(RawStatus(c, Signed(c, c.admin_key(0), NowMs(), method, empty)).ok());

  // The signature covers the bytes as sent, whatever the encoder: a GetBlockRequest with the
  // field written twice (height 0, then 1; the last one counts) is not canonical protobuf.
  {
    auto s = RawCall(c, "/ertr.v1.Ertr/GetBlock", std::string("\x08\x00\x08\x01", 4));
    INFO(s.error_message());
    CHECK(s.ok());
  }

  // Hostile bytes from a registered caller, through the real server: random and mutated request
  // messages for every unary method. Each call ends with a clear status (never INTERNAL or
  // UNKNOWN, always a message), and the node carries on.
  {
    std::mt19937_64 rng(Catch::rngSeed());
    v1::GetBlockRequest block;
    block.set_height(1);
    v1::GetAuditTrailRequest audit;
    audit.set_record_id(std::string(16, '\x02'));
    v1::ListRecordsRequest list;
    list.set_patient_pseudonym(std::string(16, '\x03'));
    v1::GetTransactionRequest tx;
    tx.set_tx_id(std::string(32, '\x04'));
    v1::GetReceiptRequest receipt;
    receipt.set_tx_id(std::string(32, '\x05'));
    v1::ListGrantsRequest grants;
    grants.set_patient_pseudonym(std::string(16, '\x06'));
    v1::SubmitTransactionRequest submit;
    submit.mutable_transaction()->set_body(std::string(200, '\x07'));
    submit.mutable_transaction()->set_signature(std::string(64, '\x08'));
    const std::vector<std::pair<std::string, std::string>> seeds = {
        {"GetStatus", ""},
        {"GetBlock", block.SerializeAsString()},
        {"GetAuditTrail", audit.SerializeAsString()},
        {"ListRecords", list.SerializeAsString()},
        {"GetTransaction", tx.SerializeAsString()},
        {"GetReceipt", receipt.SerializeAsString()},
        {"ListGrants", grants.SerializeAsString()},
        {"SubmitTransaction", submit.SerializeAsString()}};
    int calls = 0;
    for (int round = 0; round < 40; ++round) {
      for (const auto& [name, seed] : seeds) {
        std::string raw = seed;
        switch (rng() % 4) {
          case 0:  // flip bytes
            for (int k = 0; k < 3 && !raw.empty(); ++k)
              raw[rng() % raw.size()] ^= char(1 << (rng() % 8));
            break;
          case 1:  // truncate
            raw.resize(raw.empty() ? 0 : rng() % raw.size());
            break;
          case 2:  // append garbage
            for (int k = 0, n = int(rng() % 64); k < n; ++k) raw.push_back(char(rng()));
            break;
          default:  // all random
            raw.assign(rng() % 300, '\0');
            for (auto& ch : raw) ch = char(rng());
        }
        auto s = RawCall(c, "/ertr.v1.Ertr/" + name, raw);
        ++calls;
        INFO(name << ": " << s.error_code() << " " << s.error_message());
        CHECK(s.error_code() != grpc::StatusCode::INTERNAL);
        CHECK(s.error_code() != grpc::StatusCode::UNKNOWN);
        if (!s.ok()) CHECK_FALSE(s.error_message().empty());
      }
    }
    CHECK(calls == 320);
  }
  CHECK(RawStatus(c, Signed(c, c.admin_key(0), NowMs(), method, empty)).ok());
  CHECK(c.Running(0));
}

TEST_CASE("remote clients use TLS: with the CA they connect, without it they cannot",
          "[integration][slow]") {
  Cluster c(4);
  const std::string dir = c.home(0) + "/tls";
  std::filesystem::create_directories(dir);
  // The key encrypted under a passphrase of its own, which opens it at start.
  std::ofstream(dir + "/passphrase") << "the TLS key's own passphrase\n";
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-days 2 -passout file:" +
      dir + "/passphrase -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 " +
      "-keyout " + dir + "/api.key -out " + dir + "/api.crt >/dev/null 2>&1";
  REQUIRE(std::system(cmd.c_str()) == 0);
  // Add the TLS files to node 0's [api] table, the one before [keys].
  c.EditConfig(0, "\n[keys]\n",
               "tls_cert_file = \"tls/api.crt\"\ntls_key_file = \"tls/api.key\"\n"
               "tls_key_passphrase_file = \"tls/passphrase\"\n\n[keys]\n");
  c.StartAll();

  cli::ClientOptions o;
  o.address = "127.0.0.1:" + std::to_string(c.api_port(0));  // the certificate names it too
  o.chain_id = c.chain_id();
  o.tls_ca_file = dir + "/api.crt";
  auto tls = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE(tls.has_value());
  auto status = (*tls)->GetStatus();
  INFO((status ? "" : status.error().ToString()));
  REQUIRE(status.has_value());
  CHECK(status->institution_id() == "hosp-a");
  std::ifstream key_in(dir + "/api.key");
  std::stringstream key_text;
  key_text << key_in.rdbuf();
  CHECK(key_text.str().find("ENCRYPTED PRIVATE KEY") != std::string::npos);
  CHECK(c.Log(0).find("event=tls_key_unencrypted") == std::string::npos);
  // "localhost" is dialled as 127.0.0.1 and still checked against the certificate's name.
  o.address = "localhost:" + std::to_string(c.api_port(0));
  auto by_name = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE(by_name.has_value());
  CHECK((*by_name)->GetStatus().has_value());
  // A CA that did not sign the node's certificate: the error names the TLS handshake.
  const std::string other =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
      "-days 2 -nodes -subj /CN=localhost -keyout " +
      dir + "/other.key -out " + dir + "/other.crt >/dev/null 2>&1";
  REQUIRE(std::system(other.c_str()) == 0);
  o.tls_ca_file = dir + "/other.crt";
  auto wrong_ca = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE(wrong_ca.has_value());
  auto untrusted = (*wrong_ca)->GetStatus();
  REQUIRE_FALSE(untrusted.has_value());
  CHECK(untrusted.error().code() == StatusCode::kUnavailable);
  INFO(untrusted.error().ToString());
  CHECK(untrusted.error().message().find("the TLS handshake with the node failed") !=
        std::string::npos);
  // A server name the certificate does not hold: the error says which option fixes it.
  o.tls_ca_file = dir + "/api.crt";
  o.tls_server_name = "ertr.elsewhere.example";
  auto misnamed = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE(misnamed.has_value());
  auto wrong_name = (*misnamed)->GetStatus();
  REQUIRE_FALSE(wrong_name.has_value());
  INFO(wrong_name.error().ToString());
  CHECK(wrong_name.error().message().find("pass --tls-server-name") != std::string::npos);
  o.tls_server_name.clear();
  // A CA file that holds no certificate (the node's key, say) is named before any call.
  o.tls_ca_file = dir + "/api.key";
  auto not_ca = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE_FALSE(not_ca.has_value());
  CHECK(not_ca.error().code() == StatusCode::kInvalidArgument);
  CHECK(not_ca.error().message().find("api.key (--tls-ca) holds no PEM certificate") !=
        std::string::npos);
  // A plaintext client of the TLS port gets nowhere.
  o.tls_ca_file.clear();
  o.address = "127.0.0.1:" + std::to_string(c.api_port(0));
  auto plain = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE(plain.has_value());
  auto refused = (*plain)->GetStatus();
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code() == StatusCode::kUnavailable);
  // An address that is not HOST:PORT is named as such, not taken for a remote node.
  for (const char* bad :
       {"nonsense", "127.0.0.1", "127.0.0.1:", "127.0.0.1:http", ":26800", "127.0.0.1:70000"}) {
    o.address = bad;
    auto malformed = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
    REQUIRE_FALSE(malformed.has_value());
    CHECK(malformed.error().code() == StatusCode::kInvalidArgument);
    CHECK(malformed.error().message() ==
          "'--node' must be HOST:PORT (for example "
          "127.0.0.1:26800), got '" +
              std::string(bad) + "'");
  }
  // ertrctl refuses a remote node without a CA before sending anything.
  o.address = "ertr.hosp-a.example:26800";
  auto remote = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(c.admin_key(0).Clone()));
  REQUIRE_FALSE(remote.has_value());
  CHECK(remote.error().message().find("--tls-ca") != std::string::npos);
}

v1::SignedTransaction ToWire(const ledger::Transaction& tx) {
  v1::SignedTransaction m;
  m.set_body(std::string(AsStringView(tx.signed_tx.body)));
  m.set_signature(std::string(AsStringView(tx.signed_tx.signature.span())));
  return m;
}

// An 8-byte NullOp nobody signed (issue 11's command).
v1::SignedTransaction UnsignedNullOp(const std::string& chain_id, std::uint64_t k) {
  ledger::TransactionHeader h;
  h.chain_id = chain_id;
  h.nonce = k;
  Bytes command(8);
  for (std::size_t b = 0; b < 8; ++b) command[b] = static_cast<std::uint8_t>(k >> (8 * b));
  v1::SignedTransaction m;
  m.set_body(std::string(AsStringView(proto::EncodeTransactionBody(h, ledger::NullOp{command}))));
  m.set_signature(std::string(64, '\0'));
  return m;
}

// A small record (3000 bytes) uploaded at node 0 and not submitted yet, and the SubmitRecord the
// node prepared for it, decoded (unsigned).
struct Unsubmitted {
  std::unique_ptr<RawUpload> upload;
  ledger::Transaction decoded;

  // That SubmitRecord as `change` leaves it, signed by `user` with its nonce moved on by
  // `nonce_step` (0: the same nonce).
  ledger::Transaction Variant(const crypto::SigningKey& user, std::uint64_t nonce_step,
                              const std::function<void(ledger::SubmitRecord&)>& change) const {
    auto record = std::get<ledger::SubmitRecord>(*decoded.payload);
    change(record);
    auto header = decoded.signed_tx.header;
    header.nonce += nonce_step;
    auto signer = crypto::MakeEd25519Signer(user.Clone());
    auto tx = proto::MakeTransaction(header, record, *signer);
    REQUIRE(tx.has_value());
    return std::move(*tx);
  }
};

// Names a random ciphertext, which no node holds.
void NameMissingCiphertext(ledger::SubmitRecord& record) {
  crypto::RandomBytes(MutableByteSpan(record.ciphertext_digest.data(), crypto::Digest::kSize));
  record.locator.content_digest = record.ciphertext_digest;
}
Unsubmitted UploadUnsubmitted(UploadFixture& f) {
  auto u = OpenUpload(f.c, *f.stub, f.phys, f.patient, 3000);
  v1::UploadRecordRequest msg;
  msg.set_chunk(std::string(3000, 'r'));
  REQUIRE(u->writer->Write(msg));
  msg.mutable_end();
  REQUIRE(u->writer->Write(msg));
  u->writer->WritesDone();
  auto status = u->writer->Finish();
  INFO(status.error_message());
  REQUIRE(status.ok());
  v1::SignedTransaction as_built;
  as_built.set_body(u->resp.transaction_body());
  as_built.set_signature(std::string(64, '\0'));
  auto decoded = proto::DecodeTransaction(AsBytes(as_built.SerializeAsString()));
  REQUIRE(decoded.has_value());
  REQUIRE(decoded->payload.has_value());
  REQUIRE(std::holds_alternative<ledger::SubmitRecord>(*decoded->payload));
  return {std::move(u), std::move(*decoded)};
}

TEST_CASE_METHOD(UploadFixture,
                 "a record whose upload is not at its node is refused at submission, saying why",
                 "[integration][slow]") {
  const auto unsubmitted = UploadUnsubmitted(*this);
  const auto& u = unsubmitted.upload;
  // The node's own SubmitRecord body, for a ciphertext it does not hold (as after an upload lost
  // in a restart, or one deleted unsubmitted after 30 minutes).
  const auto missing = unsubmitted.Variant(phys, 0, NameMissingCiphertext);
  auto refused = c.Client(0, phys)->SubmitSigned(ToWire(missing), true);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error().code() == StatusCode::kFailedPrecondition);
  CHECK(refused.error().message().find("submit_record.ciphertext_digest") != std::string::npos);
  CHECK(refused.error().message().find("upload the record again") != std::string::npos);
  // The upload itself, stored unsynced, is made durable at submission and commits.
  CommitUpload(*this, *u);
}

// A record naming a ciphertext that no node holds, submitted at a node of another institution
// than the uploader it names (so not refused there at once as a lost upload of its own), waits
// for holders that never come. After mempool.blob_wait_seconds it is dropped, and the caller
// waiting for its commit, GetTransaction and the log say why.
TEST_CASE_METHOD(UploadFixture,
                 "a record whose ciphertext never reaches f+1 nodes is dropped after "
                 "mempool.blob_wait_seconds, saying why",
                 "[integration][slow]") {
  c.Terminate(1);
  c.EditConfig(1, "blob_wait_seconds = 600", "blob_wait_seconds = 5");
  c.Start(1);
  REQUIRE(Cluster::WaitFor([&] {
    const auto s0 = c.Status(0);
    const auto s1 = c.Status(1);
    return s0 && s1 && s1->peers == 3 && s1->height >= s0->height;
  }));
  const auto unsubmitted = UploadUnsubmitted(*this);
  const auto& u = unsubmitted.upload;
  const auto orphan = unsubmitted.Variant(phys, 1, NameMissingCiphertext);
  const auto& record = std::get<ledger::SubmitRecord>(*orphan.payload);
  const std::string id = orphan.signed_tx.id.ToHex();
  const auto sent = std::chrono::steady_clock::now();
  auto told = c.Client(1, phys)->SubmitSigned(ToWire(orphan), true);
  const auto waited = std::chrono::steady_clock::now() - sent;
  REQUIRE_FALSE(told.has_value());
  INFO(told.error().ToString());
  CHECK(told.error().code() == StatusCode::kFailedPrecondition);
  const std::string reason =
      "its blob did not reach f+1 holders within 5 s (this node's mempool.blob_wait_seconds)";
  CHECK(told.error().message().find("dropped uncommitted at this node: " + reason) !=
        std::string::npos);
  // Not before its time: a lower bound only (the node drops it once a tick finds the wait passed),
  // so a slow machine cannot fail it.
  CHECK(waited >= std::chrono::seconds(5));
  auto looked_up = c.Client(1, phys)->GetTransaction(orphan.signed_tx.id);
  REQUIRE_FALSE(looked_up.has_value());
  CHECK(looked_up.error().code() == StatusCode::kNotFound);
  CHECK(looked_up.error().message().find(reason) != std::string::npos);
  const std::string log = c.Log(1);
  CHECK(log.find("event=record_dropped tx=" + id.substr(0, 8)) != std::string::npos);
  CHECK(log.find("digest=" + record.ciphertext_digest.ShortHex()) != std::string::npos);
  CHECK(c.Metric(1, "ertr_records_waiting_for_blob") == 0);
  // The real upload's record commits.
  CommitUpload(*this, *u);
}

TEST_CASE_METHOD(UploadFixture,
                 "an upload left unsubmitted across a restart is found by the sweep and kept for "
                 "its grace period",
                 "[integration][slow]") {
  const auto [u, decoded] = UploadUnsubmitted(*this);
  CHECK(c.Metric(0, "ertr_uploads_uncommitted") == 1);
  // The node forgets its unsubmitted uploads when it stops; the blob stays on its disk. After the
  // restart the periodic sweep (its listing taken off the io thread, its look-ups a batch per
  // tick) finds it unreferenced and gives it the upload's grace period again.
  c.Terminate(0);
  c.Start(0);
  CHECK(Cluster::WaitFor([&] { return c.Metric(0, "ertr_uploads_uncommitted") == 1; }, 60));
  // Within that period its record can still be submitted, and commits.
  CommitUpload(*this, *u);
  CHECK(Cluster::WaitFor([&] { return c.Metric(0, "ertr_uploads_uncommitted") == 0; }, 30));
}

// A SubmitRecord naming the right digest but another ciphertext_size, sent to a node that does not
// hold the blob (so it cannot be refused there at once), ahead of the real record. Were it
// ordered, the real record would be rejected (the digest is taken) and nodes lacking the blob
// would refuse every holder's chunks (ADR 0036).
TEST_CASE_METHOD(UploadFixture,
                 "a record naming another size than its ciphertext's is never ordered, and the "
                 "real record commits",
                 "[integration][slow]") {
  const auto unsubmitted = UploadUnsubmitted(*this);
  const auto& u = unsubmitted.upload;
  const auto resized =
      unsubmitted.Variant(phys, 1, [](ledger::SubmitRecord& r) { r.ciphertext_size += 1; });
  const auto& record = std::get<ledger::SubmitRecord>(*resized.payload);
  const std::string resized_id = resized.signed_tx.id.ToHex();
  // Node 1 holds nothing of the upload (it is announced at its submission): admitted, it waits.
  // Node 1 and the others pull the blob from the uploader the record names, so they learn its
  // size, and drop the record; the call waiting for its commit is told why.
  auto told = c.Client(1, phys)->SubmitSigned(ToWire(resized), true);
  REQUIRE_FALSE(told.has_value());
  CHECK(told.error().code() == StatusCode::kFailedPrecondition);
  const std::string reason = "field 'submit_record.ciphertext_size' is " +
                             std::to_string(record.ciphertext_size) + " but the ciphertext " +
                             record.ciphertext_digest.ShortHex() + "… with that digest has " +
                             std::to_string(u->resp.ciphertext_size()) +
                             " bytes; use the ciphertext_size that UploadRecord returned";
  CHECK(told.error().message().find("dropped uncommitted at this node: " + reason) !=
        std::string::npos);
  // Asked later, node 1 says the same. Sent there again, it is refused at once, naming the field:
  // node 1 holds the ciphertext now.
  auto looked_up = c.Client(1, phys)->GetTransaction(resized.signed_tx.id);
  REQUIRE_FALSE(looked_up.has_value());
  CHECK(looked_up.error().code() == StatusCode::kNotFound);
  CHECK(looked_up.error().message().find(reason) != std::string::npos);
  auto again = c.Client(1, phys)->SubmitSigned(ToWire(resized), true);
  REQUIRE_FALSE(again.has_value());
  CHECK(again.error().code() == StatusCode::kInvalidArgument);
  CHECK(again.error().message().find("submit_record.ciphertext_size") != std::string::npos);
  // Node 1 logged the drop (ids and sizes only). Gossiped to node 0, which holds the upload, it
  // was refused on arrival.
  const std::string log = c.Log(1);
  CHECK(log.find("event=record_dropped tx=" + resized_id.substr(0, 8)) != std::string::npos);
  CHECK(log.find(reason) != std::string::npos);
  // The real record: its blob is on f+1 nodes, each announcing its size; it commits.
  CommitUpload(*this, *u);
  // Later transactions commit; the resized one still has no outcome, and the record reads back.
  auto later = c.Client(0, c.admin_key(0))->Submit(c.NewPhysician(0));
  REQUIRE(later.has_value());
  // Nowhere ordered, nor waiting (a late copy is refused: the ciphertext is taken).
  for (int i = 0; i < 4; ++i) {
    CHECK(Cluster::WaitFor([&] { return c.Outcome(i, resized_id).empty(); }));
  }
  auto taken = c.Client(2, phys)->SubmitSigned(ToWire(resized), true);
  REQUIRE_FALSE(taken.has_value());
  INFO(taken.error().ToString());
  CHECK((taken.error().code() == StatusCode::kInvalidArgument ||
         taken.error().code() == StatusCode::kFailedPrecondition));
  // A second record naming the ciphertext at its size (a new transaction: another nonce) waits
  // for holders that are no longer tracked; it is dropped within about a second. Sent in a
  // SubmitTransactions call waiting for its commit, its result says why (docs/api.md: PENDING,
  // with the reason in `error`).
  const auto copy = unsubmitted.Variant(phys, 2, [](ledger::SubmitRecord&) {});
  v1::SubmitTransactionsRequest batch;
  batch.set_wait_for_commit(true);
  *batch.add_transactions() = ToWire(copy);
  auto second = c.Client(1, phys)->SubmitBatch(batch);
  INFO((second ? "" : second.error().ToString()));
  REQUIRE(second.has_value());
  REQUIRE(second->results_size() == 1);
  CHECK(second->results(0).status() == v1::TRANSACTION_STATUS_PENDING);
  CHECK(second->results(0).error().find(
            "dropped uncommitted at this node: a committed record names its ciphertext already") !=
        std::string::npos);
  CHECK(Cluster::WaitFor([&] {
    return c.Log(1).find("event=record_dropped tx=" + copy.signed_tx.id.ToHex().substr(0, 8)) !=
           std::string::npos;
  }));
  std::ostringstream out;
  auto info = c.Client(0, phys)->GetRecord(IdOf(u->resp.record_id()), "treatment", out);
  INFO((info ? "" : info.error().ToString()));
  REQUIRE(info.has_value());
  CHECK(out.str() == std::string(3000, 'r'));
  CHECK(info->ciphertext_size() == u->resp.ciphertext_size());
}

TEST_CASE("SubmitTransactions: each transaction admitted or refused on its own, in order",
          "[integration][api]") {
  Cluster c(4);
  c.StartAll();
  auto admin = c.Client(1, c.admin_key(1));
  REQUIRE(admin);
  v1::SubmitTransactionsRequest req;
  req.set_wait_for_commit(true);
  ledger::TransactionHeader h;
  h.chain_id = c.chain_id();
  h.nonce = 7;
  auto signer = crypto::MakeEd25519Signer(c.admin_key(1).Clone());
  auto good = proto::MakeTransaction(h, c.NewPhysician(1), *signer);
  REQUIRE(good.has_value());
  *req.add_transactions() = ToWire(*good);
  req.add_transactions()->set_body("not a transaction");
  *req.add_transactions() = UnsignedNullOp(c.chain_id(), 1);  // a production chain refuses it
  auto forged = ToWire(*proto::MakeTransaction(h, c.NewPhysician(1), *signer));
  forged.mutable_signature()->back() ^= 1;
  *req.add_transactions() = forged;
  auto r = admin->SubmitBatch(req);
  INFO((r ? "" : r.error().ToString()));
  REQUIRE(r.has_value());
  REQUIRE(r->results_size() == 4);
  CHECK(r->results(0).status() == v1::TRANSACTION_STATUS_ACCEPTED);
  CHECK(r->results(0).height() > 0);
  CHECK(r->results(0).tx_id() == std::string(AsStringView(good->signed_tx.id.span())));
  CHECK(r->results(1).status() == v1::TRANSACTION_STATUS_UNSPECIFIED);
  CHECK(r->results(1).error().find("transactions[1]") != std::string::npos);
  CHECK(r->results(2).status() == v1::TRANSACTION_STATUS_UNSPECIFIED);
  CHECK(r->results(2).error().find("benchmark_mode") != std::string::npos);
  CHECK(r->results(3).error().find("signature") != std::string::npos);
  // The accepted one is on every node; a retry of the call answers with its outcome.
  const std::string id = good->signed_tx.id.ToHex();
  CHECK(Cluster::WaitFor([&] { return c.Outcome(3, id) == "accepted"; }, 30));
  v1::SubmitTransactionsRequest again;
  *again.add_transactions() = ToWire(*good);
  auto retry = admin->SubmitBatch(again);
  REQUIRE(retry.has_value());
  CHECK(retry->results(0).status() == v1::TRANSACTION_STATUS_ACCEPTED);
  CHECK(retry->results(0).height() == r->results(0).height());
  // Bounds: 1 to 1,000 per call.
  v1::SubmitTransactionsRequest empty;
  auto none = admin->SubmitBatch(empty);
  REQUIRE_FALSE(none.has_value());
  CHECK(none.error().code() == StatusCode::kInvalidArgument);
  CHECK(none.error().message().find("'transactions'") != std::string::npos);
  v1::SubmitTransactionsRequest huge;
  for (int i = 0; i < 1001; ++i) *huge.add_transactions() = UnsignedNullOp(c.chain_id(), i);
  CHECK(admin->SubmitBatch(huge).error().code() == StatusCode::kInvalidArgument);
}

TEST_CASE("a benchmark network orders unsigned NullOps, and each commits once",
          "[integration][api]") {
  Cluster c(4, /*benchmark_mode=*/true);
  c.StartAll();
  std::vector<std::unique_ptr<cli::ApiClient>> clients;
  for (int i = 0; i < 4; ++i) clients.push_back(c.Client(i, c.admin_key(i)));
  // Four calls of 250 commands at once, one per node.
  std::vector<std::future<Result<v1::SubmitTransactionsResponse>>> calls;
  for (int i = 0; i < 4; ++i) {
    v1::SubmitTransactionsRequest req;
    req.set_wait_for_commit(true);
    for (int k = 0; k < 250; ++k) {
      *req.add_transactions() =
          UnsignedNullOp(c.chain_id(), static_cast<std::uint64_t>(i * 1000 + k));
    }
    calls.push_back(std::async(std::launch::async, [&, i, req] {
      return clients[static_cast<std::size_t>(i)]->SubmitBatch(req);
    }));
  }
  std::uint64_t top = 0;
  std::set<std::pair<std::uint64_t, std::uint32_t>> places;
  for (auto& f : calls) {
    auto r = f.get();
    INFO((r ? "" : r.error().ToString()));
    REQUIRE(r.has_value());
    REQUIRE(r->results_size() == 250);
    for (const auto& res : r->results()) {
      INFO(res.error());
      REQUIRE(res.status() == v1::TRANSACTION_STATUS_ACCEPTED);
      CHECK(places.insert({res.height(), res.index()}).second);  // one place in the order each
      top = std::max(top, res.height());
    }
  }
  CHECK(places.size() == 1000);
  CHECK(Cluster::WaitFor([&] { return c.Converged(top); }, 60));
  // The same command again is refused as committed: a NullOp leaves no outcome (ADR 0023), so
  // there is none to answer with, and the call does not wait for an order that never comes.
  v1::SubmitTransactionsRequest again;
  *again.add_transactions() = UnsignedNullOp(c.chain_id(), 5);
  auto r = clients[2]->SubmitBatch(again);
  REQUIRE(r.has_value());
  CHECK(r->results(0).status() == v1::TRANSACTION_STATUS_UNSPECIFIED);
  INFO(r->results(0).error());
  CHECK(r->results(0).error().find("committed already") != std::string::npos);
  auto id = proto::RequestField<crypto::Digest>(r->results(0).tx_id(), "tx_id");
  REQUIRE(id.has_value());
  auto found = clients[2]->GetTransaction(*id);
  REQUIRE_FALSE(found.has_value());
  CHECK(found.error().code() == StatusCode::kNotFound);
  CHECK(found.error().message().find("ADR 0023") != std::string::npos);
  v1::GetReceiptRequest receipt_of;
  receipt_of.set_tx_id(r->results(0).tx_id());
  auto no_receipt = clients[2]->GetReceipt(receipt_of);
  REQUIRE_FALSE(no_receipt.has_value());
  CHECK(no_receipt.error().code() == StatusCode::kNotFound);
  CHECK(no_receipt.error().message().find("ADR 0023") != std::string::npos);
  // An unsigned command's receipt verifies offline against the benchmark genesis.
  auto sent = clients[1]->SubmitSigned(UnsignedNullOp(c.chain_id(), 4242));
  INFO((sent ? "" : sent.error().ToString()));
  REQUIRE(sent.has_value());
  auto genesis_tx = proto::LoadGenesis(c.home(0) + "/genesis.bin");
  REQUIRE(genesis_tx.has_value());
  const auto& genesis = std::get<ledger::Genesis>(*genesis_tx->payload);
  auto verifier = crypto::MakeEd25519Verifier();
  const std::string receipt = sent->response.receipt().SerializeAsString();
  auto verified = proto::VerifyReceipt(AsBytes(receipt), genesis, *verifier);
  INFO((verified ? "" : verified.error().ToString()));
  CHECK(verified.has_value());
  // The same receipt against a production genesis of that chain does not verify.
  auto production = genesis;
  production.parameters.benchmark_mode = false;
  CHECK_FALSE(proto::VerifyReceipt(AsBytes(receipt), production, *verifier).has_value());
}

TEST_CASE("callers that send again when told of a commit make the primary wait for them",
          "[integration][api]") {
  // ADR 0042: four callers in a loop of one command each, with wait_for_commit. After a block of
  // several of them commits, the first to come back finds fewer waiting than the block held, so
  // the primary (node 0, view 0) waits for the others.
  Cluster c(4, /*benchmark_mode=*/true);
  c.StartAll();
  std::vector<std::future<std::string>> loops;
  for (int i = 0; i < 4; ++i) {
    loops.push_back(std::async(std::launch::async, [&c, i] {
      auto client = c.Client(i, c.admin_key(i));
      for (int k = 0; k < 40; ++k) {
        v1::SubmitTransactionsRequest req;
        req.set_wait_for_commit(true);
        *req.add_transactions() =
            UnsignedNullOp(c.chain_id(), static_cast<std::uint64_t>(100'000 * (i + 1) + k));
        auto r = client->SubmitBatch(req);
        if (!r) return r.error().ToString();
        if (r->results(0).status() != v1::TRANSACTION_STATUS_ACCEPTED) return r->results(0).error();
      }
      return std::string();
    }));
  }
  for (auto& f : loops) CHECK(f.get().empty());
  INFO(c.Log(0));
  REQUIRE(c.Status(0)->view == 0);
  CHECK(c.Metric(0, "ertr_consensus_batch_waits_total") > 0);
  CHECK(c.Metric(0, "ertr_consensus_batch_waits_timed_out_total") >= 0);  // exported
  // The backups never waited: they proposed nothing.
  for (int i : {1, 2, 3}) CHECK(c.Metric(i, "ertr_consensus_batch_waits_total") == 0);
}

// How often `needle` occurs in `text`.
std::size_t Occurrences(const std::string& text, const std::string& needle) {
  std::size_t n = 0;
  for (auto at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++n;
  return n;
}

TEST_CASE("a node back from an outage shares a record's key once, and the share it missed",
          "[integration][slow]") {
  Cluster c(4);
  c.StartAll();
  auto phys_a = NewUser(c, 0, ledger::Role::kPhysician);
  auto phys_b = NewUser(c, 1, ledger::Role::kPhysician);
  auto phys_c = NewUser(c, 2, ledger::Role::kPhysician);
  const auto patient = NewPatient(c);
  Bytes plain(3000);
  crypto::RandomBytes(plain);
  std::istringstream in(std::string(AsStringView(plain)));
  auto up =
      c.Client(0, phys_a)->SubmitRecord(patient, ledger::RecordKind::kRtPlan, in, plain.size());
  INFO((up ? "" : up.error().ToString()));
  REQUIRE(up.has_value());
  const auto record = IdOf(up->upload.record_id());
  const std::string shared_b = "event=key_share_posted record=" + record.ShortHex() + " to=hosp-b";
  const std::string shared_c = "event=key_share_posted record=" + record.ShortHex() + " to=hosp-c";

  // A grant to hospital B: node 0, of the uploading institution, shares the record's key.
  auto admin_a = c.Client(0, c.admin_key(0));
  SubmitSeen(c, *admin_a, 0,
             ledger::GrantConsent{crypto::RandomNonZeroId<ledger::GrantId>(), patient,
                                  ledger::GranteeInstitution{"hosp-b"}, ledger::ScopeAll{}, 0});
  REQUIRE(ReadSoon(c, 1, phys_b, record).has_value());
  CHECK(Occurrences(c.Log(0), shared_b) == 1);

  // Node 0 loses its data. While it is away, a grant to hospital C commits: only node 0 can share
  // the key with C (the uploading institution's node shares its records' keys).
  c.Kill(0);
  c.WipeData(0);
  auto grant_c =
      c.Submit(1, 0,
               ledger::GrantConsent{crypto::RandomNonZeroId<ledger::GrantId>(), patient,
                                    ledger::GranteeInstitution{"hosp-c"}, ledger::ScopeAll{}, 0});
  REQUIRE(grant_c.has_value());
  REQUIRE(Cluster::WaitFor([&] { return c.Outcome(1, *grant_c) == "accepted"; }));
  // C may read, but holds no key until node 0 is back; the refusal says whose node that is.
  REQUIRE(Cluster::WaitFor([&] { return c.Outcome(2, *grant_c) == "accepted"; }));
  auto early = Read(c, 2, phys_c, record);
  REQUIRE_FALSE(early.has_value());
  CHECK(early.error().code() == StatusCode::kUnavailable);
  CHECK(early.error().message().find("holds no key for this record yet: the uploading "
                                     "institution's node (hosp-a)") != std::string::npos);
  const long long rejected_before = c.Metric(1, "ertr_transactions_rejected_total");
  REQUIRE(rejected_before >= 0);

  // Back, node 0 replays both grants from its peers. It shares with C, which it missed, and not
  // again with B: replayed at the first grant's height the state lacks B's envelope, which the
  // chain got a block later.
  c.Start(0);
  auto theirs = ReadSoon(c, 2, phys_c, record);
  INFO(c.Log(0));
  REQUIRE(theirs.has_value());
  CHECK(*theirs == std::string(AsStringView(plain)));
  CHECK(Occurrences(c.Log(0), shared_b) == 1);
  CHECK(Occurrences(c.Log(0), shared_c) == 1);
  // Nothing it posted was refused: a transaction through node 0 commits after anything it posted
  // while catching up, and node 1 has executed that block.
  auto marker = c.Client(0, c.admin_key(0))->Submit(c.NewPhysician(0));
  REQUIRE(marker.has_value());
  const auto marker_height = marker->response.height();
  REQUIRE(Cluster::WaitFor([&] {
    auto s = c.Status(1);
    return s && s->height >= marker_height;
  }));
  CHECK(c.Metric(1, "ertr_transactions_rejected_total") == rejected_before);
}

// Uploads `n` small records of `patient` through node `via`; their ids and plaintexts.
std::vector<std::pair<ledger::RecordId, std::string>> UploadRecords(
    Cluster& c, int via, const crypto::SigningKey& user, const ledger::Pseudonym& patient, int n) {
  std::vector<std::pair<ledger::RecordId, std::string>> records;
  for (int i = 0; i < n; ++i) {
    Bytes plain(500 + static_cast<std::size_t>(i));
    crypto::RandomBytes(plain);
    std::istringstream in(std::string(AsStringView(plain)));
    auto up =
        c.Client(via, user)->SubmitRecord(patient, ledger::RecordKind::kRtPlan, in, plain.size());
    INFO((up ? "" : up.error().ToString()));
    REQUIRE(up.has_value());
    records.emplace_back(IdOf(up->upload.record_id()), std::string(AsStringView(plain)));
  }
  return records;
}

// Starts `c` with node 0 holding at most four transactions of one signer, its own included, of
// which its key shares may take three (a quarter is kept for the access events of reads there).
bool StartWithSmallShareAllowance(Cluster& c) {
  c.EditConfig(0, "max_per_signer = 2000", "max_per_signer = 4");
  c.StartAll();
  return true;
}

// That cluster, with eight records of one patient uploaded at node 0 and a physician at B.
struct SmallShareAllowance {
  Cluster c{4};
  bool running = StartWithSmallShareAllowance(c);
  crypto::SigningKey phys_a = NewUser(c, 0, ledger::Role::kPhysician);
  crypto::SigningKey phys_b = NewUser(c, 1, ledger::Role::kPhysician);
  ledger::Pseudonym patient = NewPatient(c);
  std::vector<std::pair<ledger::RecordId, std::string>> records =
      UploadRecords(c, 0, phys_a, patient, 8);
};

TEST_CASE("key shares beyond a node's mempool allowance are posted as earlier ones commit, once",
          "[integration][slow]") {
  SmallShareAllowance s;
  auto& c = s.c;
  const auto& records = s.records;
  auto phys_c = NewUser(c, 2, ledger::Role::kPhysician);
  const long long rejected_before = c.Metric(1, "ertr_transactions_rejected_total");
  REQUIRE(rejected_before >= 0);

  // A grant makes eight shares due at node 0: three fit, the rest wait and are retried. A
  // second grant commits while most of them still wait: it finds B's envelopes missing too, and
  // must not post the shares that are on their way again.
  auto admin_a = c.Client(0, c.admin_key(0));
  for (const char* grantee : {"hosp-b", "hosp-c"}) {
    SubmitSeen(c, *admin_a, 0,
               ledger::GrantConsent{crypto::RandomNonZeroId<ledger::GrantId>(), s.patient,
                                    ledger::GranteeInstitution{grantee}, ledger::ScopeAll{}, 0});
  }
  for (const auto& [record, plain] : records) {
    for (const auto& [via, user] : {std::pair{1, &s.phys_b}, std::pair{2, &phys_c}}) {
      auto theirs = ReadSoon(c, via, *user, record);
      INFO(c.Log(0));
      REQUIRE(theirs.has_value());
      CHECK(*theirs == plain);
    }
  }
  const std::string log = c.Log(0);
  CHECK(log.find("event=key_shares_waiting") != std::string::npos);
  CHECK(log.find("event=key_shares_retried") != std::string::npos);
  // Each record's key went to B and to C once: nothing was posted twice, nor rejected.
  for (const auto& [record, plain] : records) {
    for (const char* to : {" to=hosp-b", " to=hosp-c"}) {
      CHECK(Occurrences(log, "event=key_share_posted record=" + record.ShortHex() + to) == 1);
    }
  }
  REQUIRE(Cluster::WaitFor([&] { return c.Metric(0, "ertr_key_shares_pending") == 0; }));
  CHECK(c.Metric(1, "ertr_transactions_rejected_total") == rejected_before);
}

TEST_CASE("key shares still waiting when their node is killed are made after its restart",
          "[integration][slow]") {
  SmallShareAllowance s;
  auto& c = s.c;
  const auto& records = s.records;
  // The grant makes eight shares due at node 0; five of them wait for a retry, which the
  // kill comes before. The restarted node knows nothing of them but what the chain says.
  auto admin_a = c.Client(0, c.admin_key(0));
  SubmitSeen(c, *admin_a, 0,
             ledger::GrantConsent{crypto::RandomNonZeroId<ledger::GrantId>(), s.patient,
                                  ledger::GranteeInstitution{"hosp-b"}, ledger::ScopeAll{}, 0});
  c.Kill(0);
  CHECK(c.Log(0).find("event=key_shares_retried") == std::string::npos);
  c.Start(0);
  for (const auto& [record, plain] : records) {
    auto theirs = ReadSoon(c, 1, s.phys_b, record);
    INFO(c.Log(0));
    REQUIRE(theirs.has_value());
    CHECK(*theirs == plain);
  }
  REQUIRE(Cluster::WaitFor(
      [&] { return c.Log(0).find("event=key_share_audit_done") != std::string::npos; }));
  CHECK(c.Log(0).find("event=key_shares_audited") != std::string::npos);
}

TEST_CASE("calls waiting for commits are answered when their node stops, a retry's call too",
          "[integration][api]") {
  Cluster c(4, /*benchmark_mode=*/true);
  c.StartAll();
  // Two of four validators down: no quorum, so nothing commits and every call keeps waiting.
  c.Terminate(3);
  c.Terminate(2);
  auto first = c.Client(0, c.admin_key(0));
  auto retry = c.Client(0, c.admin_key(0));
  auto single = c.Client(0, c.admin_key(0));
  v1::SubmitTransactionsRequest req;
  req.set_wait_for_commit(true);
  *req.add_transactions() = UnsignedNullOp(c.chain_id(), 77);
  auto waiters = [&] { return c.Metric(0, "ertr_api_commit_waiters"); };
  CHECK(waiters() == 0);
  auto a = std::async(std::launch::async, [&] { return first->SubmitBatch(req); });
  REQUIRE(Cluster::WaitFor([&] { return waiters() == 1; }, 30));
  // The same command again, while the first call waits: pending already, so it waits too.
  auto b = std::async(std::launch::async, [&] { return retry->SubmitBatch(req); });
  REQUIRE(Cluster::WaitFor([&] { return waiters() == 2; }, 30));
  auto s = std::async(std::launch::async,
                      [&] { return single->SubmitSigned(UnsignedNullOp(c.chain_id(), 78)); });
  REQUIRE(Cluster::WaitFor([&] { return waiters() == 3; }, 30));
  CHECK(c.Metric(0, "ertr_mempool_transactions") == 2);

  c.Terminate(0);  // a clean stop answers every waiting call before the API closes
  for (auto* call : {&a, &b}) {
    auto r = call->get();
    INFO((r ? "" : r.error().ToString()));
    REQUIRE(r.has_value());
    REQUIRE(r->results_size() == 1);
    CHECK(r->results(0).status() == v1::TRANSACTION_STATUS_PENDING);
    INFO(r->results(0).error());
    CHECK(r->results(0).error().find("node is stopping") != std::string::npos);
  }
  auto r = s.get();
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == StatusCode::kUnavailable);
  INFO(r.error().ToString());
  CHECK(r.error().message().find("node is stopping") != std::string::npos);
}

}  // namespace
}  // namespace ertr::testing
