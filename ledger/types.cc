#include "ledger/types.h"

namespace ertr::ledger {

std::string_view RoleName(Role role) {
  switch (role) {
    case Role::kUnspecified:
      return "unspecified";
    case Role::kPhysician:
      return "physician";
    case Role::kPhysicist:
      return "physicist";
    case Role::kTherapist:
      return "therapist";
    case Role::kIntegrator:
      return "integrator";
    case Role::kAuditor:
      return "auditor";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

std::string_view RecordKindName(RecordKind kind) {
  switch (kind) {
    case RecordKind::kUnspecified:
      return "unspecified";
    case RecordKind::kRtBeamsTreatmentRecord:
      return "rt-beams-treatment-record";
    case RecordKind::kRtIonBeamsTreatmentRecord:
      return "rt-ion-beams-treatment-record";
    case RecordKind::kRtPlan:
      return "rt-plan";
    case RecordKind::kRtDose:
      return "rt-dose";
    case RecordKind::kRtStructureSet:
      return "rt-structure-set";
    case RecordKind::kRtImage:
      return "rt-image";
    case RecordKind::kCtImage:
      return "ct-image";
    case RecordKind::kMrImage:
      return "mr-image";
    case RecordKind::kFhirResource:
      return "fhir-resource";
    case RecordKind::kDocument:
      return "document";
    case RecordKind::kRtIonPlan:
      return "rt-ion-plan";
    case RecordKind::kRtBrachyTreatmentRecord:
      return "rt-brachy-treatment-record";
    case RecordKind::kRtTreatmentSummaryRecord:
      return "rt-treatment-summary-record";
  }
  return "unknown";
}

}  // namespace ertr::ledger
