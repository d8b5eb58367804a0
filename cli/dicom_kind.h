#pragma once

// Record kind detection for `ertrctl record submit` (DCMTK). A DICOM file's kind comes from its
// SOP Class UID; nothing else is read from it and no DICOM attribute ever goes on chain (patient
// name, ID, UIDs stay inside the encrypted payload). A file that claims to be DICOM (the "DICM"
// preamble or a .dcm name) and does not parse is refused.

#include <filesystem>
#include <string>

#include "common/status.h"
#include "ledger/types.h"

namespace ertr::cli {

struct DetectedKind {
  ledger::RecordKind kind = ledger::RecordKind::kUnspecified;  // kUnspecified: not recognised
  bool dicom = false;
  std::string sop_class_uid;  // DICOM only
};

// The kind for a SOP Class UID, or kUnspecified.
ledger::RecordKind KindOfSopClass(std::string_view uid);

// Detects the file's kind. InvalidArgument for a file that claims to be DICOM and is not. A DICOM
// object of a class without a kind comes back with dicom set and kind kUnspecified. With
// `declared` a DICOM kind (the user's --kind), the file must be DICOM whatever its name.
Result<DetectedKind> DetectRecordKind(
    const std::filesystem::path& file,
    ledger::RecordKind declared = ledger::RecordKind::kUnspecified);

// Whether records of this kind are DICOM objects (every kind but FHIR resources and documents).
bool IsDicomKind(ledger::RecordKind kind);

// Parses a kind name as printed by ledger::RecordKindName ("rt-plan"); InvalidArgument lists them.
Result<ledger::RecordKind> ParseRecordKind(std::string_view name);

}  // namespace ertr::cli
