#include "cli/dicom_kind.h"

#include <dcmtk/dcmdata/dcdeftag.h>
#include <dcmtk/dcmdata/dcfilefo.h>
#include <dcmtk/dcmdata/dcmetinf.h>
#include <dcmtk/oflog/oflog.h>

#include <array>
#include <fstream>

namespace ertr::cli {

namespace {

struct SopKind {
  const char* uid;
  ledger::RecordKind kind;
};

constexpr std::array<SopKind, 13> kSopKinds{{
    {"1.2.840.10008.5.1.4.1.1.481.4", ledger::RecordKind::kRtBeamsTreatmentRecord},
    {"1.2.840.10008.5.1.4.1.1.481.9", ledger::RecordKind::kRtIonBeamsTreatmentRecord},
    {"1.2.840.10008.5.1.4.1.1.481.5", ledger::RecordKind::kRtPlan},
    {"1.2.840.10008.5.1.4.1.1.481.8", ledger::RecordKind::kRtIonPlan},
    {"1.2.840.10008.5.1.4.1.1.481.2", ledger::RecordKind::kRtDose},
    {"1.2.840.10008.5.1.4.1.1.481.3", ledger::RecordKind::kRtStructureSet},
    {"1.2.840.10008.5.1.4.1.1.481.1", ledger::RecordKind::kRtImage},
    {"1.2.840.10008.5.1.4.1.1.481.6", ledger::RecordKind::kRtBrachyTreatmentRecord},
    {"1.2.840.10008.5.1.4.1.1.481.7", ledger::RecordKind::kRtTreatmentSummaryRecord},
    {"1.2.840.10008.5.1.4.1.1.2", ledger::RecordKind::kCtImage},
    {"1.2.840.10008.5.1.4.1.1.2.1", ledger::RecordKind::kCtImage},  // Enhanced CT
    {"1.2.840.10008.5.1.4.1.1.4", ledger::RecordKind::kMrImage},
    {"1.2.840.10008.5.1.4.1.1.4.1", ledger::RecordKind::kMrImage},  // Enhanced MR
}};

bool HasDicomName(const std::filesystem::path& file) {
  std::string ext = file.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".dcm" || ext == ".dicom";
}

}  // namespace

ledger::RecordKind KindOfSopClass(std::string_view uid) {
  for (const auto& s : kSopKinds) {
    if (uid == s.uid) return s.kind;
  }
  return ledger::RecordKind::kUnspecified;
}

bool IsDicomKind(ledger::RecordKind kind) {
  return kind != ledger::RecordKind::kUnspecified && kind != ledger::RecordKind::kFhirResource &&
         kind != ledger::RecordKind::kDocument;
}

Result<DetectedKind> DetectRecordKind(const std::filesystem::path& file,
                                      ledger::RecordKind declared) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + file.string());
  std::array<char, 132> head{};
  in.read(head.data(), head.size());
  const bool magic = in.gcount() == 132 && std::string_view(head.data() + 128, 4) == "DICM";
  DetectedKind out;
  const bool named = HasDicomName(file);
  // Without the preamble, the name decides, unless the user said what the file is.
  if (!magic && (declared == ledger::RecordKind::kDocument || (!named && !IsDicomKind(declared)))) {
    // A FHIR resource in JSON names its resourceType near the start.
    const std::string_view start(head.data(), static_cast<std::size_t>(in.gcount()));
    const auto first = start.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos && start[first] == '{') {
      std::string more(4096, '\0');
      in.clear();
      in.seekg(0);
      in.read(more.data(), static_cast<std::streamsize>(more.size()));
      more.resize(static_cast<std::size_t>(in.gcount()));
      if (more.find("\"resourceType\"") != std::string::npos) {
        out.kind = ledger::RecordKind::kFhirResource;
      }
    }
    return out;
  }
  OFLog::configure(OFLogger::FATAL_LOG_LEVEL);
  DcmFileFormat ff;
  // Elements over 4 KiB (pixel data, dose grids) are not read into memory.
  const OFCondition loaded = ff.loadFile(file.c_str(), EXS_Unknown, EGL_noChange, 4096);
  if (loaded.bad() && !magic && !named) {
    return Status::InvalidArgument(
        file.string() + " is not a readable DICOM file (" + loaded.text() + "), but --kind " +
        std::string(ledger::RecordKindName(declared)) +
        " is a DICOM kind; nothing was submitted. Pass --kind document for another file, or "
        "--kind fhir-resource for a FHIR resource in JSON");
  }
  if (loaded.bad() && magic) {
    // Under every --kind, document too: a damaged DICOM object is not stored as if it were one.
    return Status::InvalidArgument(
        file.string() +
        " claims to be DICOM (it has the DICM preamble) but is not a readable DICOM file: " +
        loaded.text() +
        "; nothing was submitted. It is damaged or cut short: export or copy it again");
  }
  if (loaded.bad()) {
    return Status::InvalidArgument(
        file.string() +
        " claims to be DICOM (its name ends in .dcm) but is not a readable DICOM "
        "file: " +
        loaded.text() +
        "; nothing was submitted. Check the file, or pass --kind document if it is not DICOM");
  }
  OFString uid;
  if (ff.getDataset()->findAndGetOFString(DCM_SOPClassUID, uid).bad() || uid.empty()) {
    ff.getMetaInfo()->findAndGetOFString(DCM_MediaStorageSOPClassUID, uid);
  }
  if (uid.empty()) {
    return Status::InvalidArgument(file.string() +
                                   " is DICOM but has no SOP Class UID; nothing was submitted");
  }
  out.dicom = true;
  out.sop_class_uid = uid.c_str();
  out.kind = KindOfSopClass(out.sop_class_uid);  // kUnspecified: a class ertrchain has no kind for
  return out;
}

Result<ledger::RecordKind> ParseRecordKind(std::string_view name) {
  std::string all;
  for (std::uint8_t k = 1; k <= ledger::kMaxRecordKind; ++k) {
    const auto kind = static_cast<ledger::RecordKind>(k);
    if (ledger::RecordKindName(kind) == name) return kind;
    all += (all.empty() ? "" : ", ") + std::string(ledger::RecordKindName(kind));
  }
  return Status::InvalidArgument("unknown record kind '" + std::string(name) + "'; one of: " + all);
}

}  // namespace ertr::cli
