#pragma once

// Clearly synthetic DICOM RT objects (DCMTK) for the demo, tests and fuzz seeds: an RT Plan and
// an RT Beams Treatment Record that references it. No public RT Beams Treatment Record sample
// exists, so ertrchain makes its own. Every object says it is synthetic: PatientName
// "SYNTHETIC^TEST PATIENT", PatientID "SYNTH-…", PatientIdentityRemoved YES, and the series and
// study descriptions; nothing in them describes a real person.

#include <string>

#include "common/bytes.h"
#include "common/status.h"

namespace ertr::cli {

struct SyntheticPlan {
  Bytes file;  // a DICOM Part 10 file
  std::string sop_instance_uid;
};

// A one-beam 6 MV photon plan, `fractions` fractions of `dose_gy` Gy.
Result<SyntheticPlan> MakeSyntheticRtPlan(const std::string& patient_id, int fractions = 30,
                                          double dose_gy = 2.0);
// The treatment record of fraction `fraction` delivered from `plan`.
Result<Bytes> MakeSyntheticBeamsTreatmentRecord(const std::string& patient_id,
                                                const SyntheticPlan& plan, int fraction);

}  // namespace ertr::cli
