// Record kind detection (cli/dicom_kind.h) and the synthetic DICOM RT generator.

#include <catch2/catch.hpp>

#include <fstream>

#include "cli/dicom_kind.h"
#include "cli/synthetic_dicom.h"
#include "tests/support/temp_dir.h"

namespace ertr::cli {
namespace {

std::string WriteFile(const testing::TempDir& dir, const std::string& name, ByteSpan data) {
  const auto path = (dir / name).string();
  std::ofstream(path, std::ios::binary)
      .write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  return path;
}

TEST_CASE("synthetic RT Plan and RT Beams Treatment Record are detected by their SOP class") {
  testing::TempDir dir("dicom-kind");
  auto plan = MakeSyntheticRtPlan("SYNTH-0001", 30, 2.0);
  REQUIRE(plan.has_value());
  auto record = MakeSyntheticBeamsTreatmentRecord("SYNTH-0001", *plan, 3);
  REQUIRE(record.has_value());
  // Part 10 files with the preamble, under names that do not say DICOM.
  REQUIRE(plan->file.size() > 132);
  CHECK(std::string(plan->file.begin() + 128, plan->file.begin() + 132) == "DICM");
  auto p = DetectRecordKind(WriteFile(dir, "plan.bin", plan->file));
  REQUIRE(p.has_value());
  CHECK(p->dicom);
  CHECK(p->kind == ledger::RecordKind::kRtPlan);
  auto r = DetectRecordKind(WriteFile(dir, "record", *record));
  REQUIRE(r.has_value());
  CHECK(r->kind == ledger::RecordKind::kRtBeamsTreatmentRecord);
  CHECK(r->sop_class_uid == "1.2.840.10008.5.1.4.1.1.481.4");
  // It says it is synthetic and references the plan.
  const std::string text(record->begin(), record->end());
  CHECK(text.find("SYNTHETIC^TEST PATIENT") != std::string::npos);
  CHECK(text.find(plan->sop_instance_uid) != std::string::npos);
}

TEST_CASE("a file that claims to be DICOM and is not is refused, with the reason") {
  testing::TempDir dir("dicom-kind");
  auto named = DetectRecordKind(WriteFile(dir, "x.dcm", AsBytes("plain text, not DICOM")));
  REQUIRE_FALSE(named.has_value());
  CHECK(named.error().code() == StatusCode::kInvalidArgument);
  CHECK(named.error().message().find("claims to be DICOM") != std::string::npos);
  Bytes preamble(128, 0);
  Append(preamble, AsBytes("DICM"));
  Append(preamble, Bytes(40, 0xff));
  auto magic = DetectRecordKind(WriteFile(dir, "x.bin", preamble));
  REQUIRE_FALSE(magic.has_value());
  CHECK(magic.error().message().find("preamble") != std::string::npos);
  CHECK(magic.error().message().find("export or copy it again") != std::string::npos);
  // Refused as a document too, and the message does not suggest what would fail the same way.
  auto as_document =
      DetectRecordKind(WriteFile(dir, "y.bin", preamble), ledger::RecordKind::kDocument);
  REQUIRE_FALSE(as_document.has_value());
  CHECK(as_document.error().message().find("--kind document") == std::string::npos);
  // A truncated real object is refused too.
  auto plan = MakeSyntheticRtPlan("SYNTH-0002");
  REQUIRE(plan.has_value());
  Bytes cut(plan->file.begin(), plan->file.begin() + static_cast<long>(plan->file.size() / 2));
  CHECK_FALSE(DetectRecordKind(WriteFile(dir, "cut.dcm", cut)).has_value());
}

TEST_CASE("FHIR JSON is recognised, other files need an explicit kind") {
  testing::TempDir dir("dicom-kind");
  auto fhir = DetectRecordKind(
      WriteFile(dir, "p.json", AsBytes("  {\n \"resourceType\": \"Procedure\", \"id\": \"x\"}")));
  REQUIRE(fhir.has_value());
  CHECK(fhir->kind == ledger::RecordKind::kFhirResource);
  auto text = DetectRecordKind(WriteFile(dir, "notes.txt", AsBytes("free text")));
  REQUIRE(text.has_value());
  CHECK(text->kind == ledger::RecordKind::kUnspecified);
  CHECK_FALSE(DetectRecordKind((dir / "missing").string()).has_value());
  CHECK(ParseRecordKind("rt-beams-treatment-record").value() ==
        ledger::RecordKind::kRtBeamsTreatmentRecord);
  auto bad = ParseRecordKind("xray");
  REQUIRE_FALSE(bad.has_value());
  CHECK(bad.error().message().find("rt-plan") != std::string::npos);
}

TEST_CASE("a DICOM kind given for a file that is not DICOM is refused") {
  testing::TempDir dir("dicom-kind");
  const auto json = WriteFile(dir, "plan.json", AsBytes("{\"resourceType\": \"CarePlan\"}"));
  auto as_plan = DetectRecordKind(json, ledger::RecordKind::kRtPlan);
  REQUIRE_FALSE(as_plan.has_value());
  CHECK(as_plan.error().message().find("--kind rt-plan is a DICOM kind") != std::string::npos);
  const auto noise = WriteFile(dir, "noise.bin", Bytes(2000, 0x5a));
  CHECK_FALSE(DetectRecordKind(noise, ledger::RecordKind::kRtBeamsTreatmentRecord).has_value());
  // Whatever its name, a real DICOM object passes under its own kind.
  auto plan = MakeSyntheticRtPlan("SYNTH-0003");
  REQUIRE(plan.has_value());
  auto real = DetectRecordKind(WriteFile(dir, "plan.dat", plan->file), ledger::RecordKind::kRtPlan);
  REQUIRE(real.has_value());
  CHECK(real->kind == ledger::RecordKind::kRtPlan);
  // Declared a document, a file named .dcm without the DICOM preamble is one (an empty file too).
  auto empty = DetectRecordKind(WriteFile(dir, "empty.dcm", {}), ledger::RecordKind::kDocument);
  REQUIRE(empty.has_value());
  CHECK_FALSE(empty->dicom);
  CHECK(IsDicomKind(ledger::RecordKind::kCtImage));
  CHECK_FALSE(IsDicomKind(ledger::RecordKind::kFhirResource));
  CHECK_FALSE(IsDicomKind(ledger::RecordKind::kDocument));
}

}  // namespace
}  // namespace ertr::cli
