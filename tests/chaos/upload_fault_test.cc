// A disk that fills up in the middle of a large upload (ADR 0019: its chunks are sealed and
// written on the API's writer threads): the upload fails with a clear status, leaves no file
// behind, and once there is room again the node takes the next upload. Real ertrd processes,
// the fault injected by the chaos harness's storage-fault library (faultfs.cc).

#include <grpcpp/grpcpp.h>

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <sstream>

#include "ertr/v1/api.grpc.pb.h"
#include "proto/api_auth.h"
#include "tests/support/local_network.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace ertr::testing {
namespace {

namespace v1 = ertr::v1;

// Four real nodes with the storage-fault library, a patient and an integrator at each node.
struct FaultNetwork {
  LocalNetwork net{[] {
    LocalNetworkOptions o;
    o.ertrd = ERTRD;
    o.validators = 4;
    o.faultfs = FAULTFS;
    return o;
  }()};
  ledger::Pseudonym patient;
  std::vector<crypto::SigningKey> integrators;

  FaultNetwork() {
    REQUIRE(net.Create());
    net.StartAll();
    REQUIRE(net.WaitConnected(60));
    auto registered = net.RegisterLoadUsers(patient, integrators);
    INFO(registered.ToString());
    REQUIRE(registered.ok());
  }

  // An UploadRecord call at node i by its integrator, of undeclared size, its start message sent:
  // the test writes the chunks.
  struct RawUpload {
    std::unique_ptr<v1::Ertr::Stub> stub;
    grpc::ClientContext ctx;
    v1::UploadRecordResponse resp;
    std::unique_ptr<grpc::ClientWriter<v1::UploadRecordRequest>> writer;
  };
  std::unique_ptr<RawUpload> StartUpload(int i) const {
    auto up = std::make_unique<RawUpload>();
    up->stub = v1::Ertr::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(net.api_port(i)),
                                                     grpc::InsecureChannelCredentials()));
    v1::UploadRecordRequest start;
    start.mutable_start()->set_patient_pseudonym(std::string(AsStringView(patient.span())));
    start.mutable_start()->set_kind(v1::RECORD_KIND_RT_PLAN);
    auto signer = crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(i)].Clone());
    const auto now_ms =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    auto auth = proto::SignApiRequest(*signer, net.chain_id(), "/ertr.v1.Ertr/UploadRecord", now_ms,
                                      AsBytes(start.SerializeAsString()));
    REQUIRE(auth.has_value());
    for (const auto& [k, v] : proto::ApiAuthHeaders(*auth)) up->ctx.AddMetadata(k, v);
    up->writer = up->stub->UploadRecord(&up->ctx, &up->resp);
    REQUIRE(up->writer->Write(start));
    return up;
  }
};

TEST_CASE_METHOD(FaultNetwork,
                 "a disk full in the middle of a large upload fails it cleanly, and the node goes "
                 "on",
                 "[integration][slow]") {
  const crypto::SigningKey& user = integrators[0];
  const auto tmp = net.Home(0) / "data" / "blobs" / "tmp";
  auto raw = StartUpload(0);
  auto& writer = raw->writer;
  v1::UploadRecordRequest chunk;
  chunk.set_chunk(std::string(1u << 20, 'c'));
  for (int i = 0; i < 6; ++i) REQUIRE(writer->Write(chunk));
  // The upload is under way (its temporary file exists); then the disk is full.
  CHECK(WaitUntil([&] { return CountFiles(tmp) == 1; }, 10));
  net.SetStorageFault(0, "enospc");
  // The node fails the call at the first chunk it cannot write; later writes find it closed.
  int sent = 0;
  while (sent < 200 && writer->Write(chunk)) ++sent;
  writer->WritesDone();
  const grpc::Status s = writer->Finish();
  net.SetStorageFault(0, "");
  INFO(s.error_message());
  CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
  CHECK(s.error_message().find("disk full") != std::string::npos);
  CHECK(sent < 200);
  CHECK(WaitUntil([&] { return CountFiles(tmp) == 0; }, 10));

  // With room again, the next large upload commits and reads back bit-exact.
  auto client = net.Client(0, crypto::MakeEd25519Signer(user.Clone()));
  REQUIRE(client);
  std::string payload(3u << 20, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 131 + 7);
  std::istringstream in(payload);
  auto up = client->SubmitRecord(patient, ledger::RecordKind::kRtPlan, in, payload.size());
  INFO((up ? "" : up.error().ToString()));
  REQUIRE(up.has_value());
  CHECK(up->submit.response.status() == v1::TRANSACTION_STATUS_ACCEPTED);
  std::ostringstream out;
  auto id = ledger::RecordId::FromSpan(AsBytes(up->upload.record_id()), "record_id");
  REQUIRE(id.has_value());
  auto info = client->GetRecord(*id, "treatment", out);
  INFO((info ? "" : info.error().ToString()));
  REQUIRE(info.has_value());
  CHECK(out.str() == payload);
  CHECK(net.Height(0) > 0);  // node 0 still answers (-1 if it had stopped)
  net.Stop();
}

TEST_CASE_METHOD(FaultNetwork,
                 "a node short of disk space keeps its reserve: it refuses uploads, its pulls "
                 "wait, and they resume once space is freed",
                 "[integration][slow]") {
  // Node 3's disk says 512 MiB are free: under its 1 GiB reserve.
  net.SetStorageFault(3, "low-space");
  CHECK(net.NodeMetric(3, "ertr_disk_free_bytes") == 512.0 * (1 << 20));
  std::string payload(300u << 10, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + 1);

  // An upload at node 3 is refused, saying why.
  auto at3 = net.Client(3, crypto::MakeEd25519Signer(integrators[3].Clone()));
  REQUIRE(at3);
  std::istringstream in3(payload);
  auto refused = at3->SubmitRecord(patient, ledger::RecordKind::kRtPlan, in3, payload.size());
  REQUIRE_FALSE(refused.has_value());
  INFO(refused.error().ToString());
  CHECK(refused.error().code() == StatusCode::kResourceExhausted);
  CHECK(refused.error().message().find("1 GiB") != std::string::npos);

  // With just the reserve free, an upload that does not declare its size starts, and is refused
  // at its first chunk, which would go into the reserve; nothing of it stays.
  net.SetStorageFault(3, "low-space 1024");
  {
    auto raw = StartUpload(3);
    auto& writer = raw->writer;
    v1::UploadRecordRequest chunk;
    chunk.set_chunk(std::string(1u << 20, 'u'));
    int sent = 0;
    while (sent < 64 && writer->Write(chunk)) ++sent;
    writer->WritesDone();
    const grpc::Status s = writer->Finish();
    INFO(s.error_message());
    CHECK(s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED);
    CHECK(s.error_message().find("1 GiB it keeps free") != std::string::npos);
    CHECK(sent < 64);
    CHECK(WaitUntil([&] { return CountFiles(net.Home(3) / "data" / "blobs" / "tmp") == 0; }, 10));
  }
  net.SetStorageFault(3, "low-space");

  // One at node 0 commits (other nodes hold it); node 3 commits it too, but does not store its
  // blob: the pull waits.
  auto at0 = net.Client(0, crypto::MakeEd25519Signer(integrators[0].Clone()));
  REQUIRE(at0);
  std::istringstream in0(payload);
  auto up = at0->SubmitRecord(patient, ledger::RecordKind::kRtPlan, in0, payload.size());
  INFO((up ? "" : up.error().ToString()));
  REQUIRE(up.has_value());
  CHECK(up->submit.response.status() == v1::TRANSACTION_STATUS_ACCEPTED);
  const double height = net.Height(0);
  CHECK(WaitUntil([&] { return net.Height(3) >= height; }, 10));
  CHECK(WaitUntil([&] { return net.NodeMetric(3, "ertr_blob_pulls_waiting_for_disk") == 1; }, 10));
  CHECK(net.NodeMetric(3, "ertr_blob_pulls_deferred_for_disk_total") >= 1);
  CHECK(net.NodeMetric(3, "ertr_blobs_received_total") == 0);
  CHECK(net.NodeMetric(3, "ertr_blob_pulls_failed_total") == 0);

  // Space freed: the pull resumes within seconds.
  net.SetStorageFault(3, "");
  CHECK(WaitUntil([&] { return net.NodeMetric(3, "ertr_blobs_received_total") == 1; }, 10));
  CHECK(net.NodeMetric(3, "ertr_blob_pulls_waiting_for_disk") == 0);
  CHECK(net.NodeMetric(3, "ertr_disk_free_bytes") > 512.0 * (1 << 20));
  net.Stop();
}

}  // namespace
}  // namespace ertr::testing
