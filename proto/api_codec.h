#pragma once

// Domain -> integrator API messages (proto/ertr/v1/api.proto): what the node answers with.

#include "ertr/v1/api.grpc.pb.h"
#include "ertr/v1/api.pb.h"
#include "ledger/policy.h"
#include "ledger/state.h"

namespace ertr::proto {

void ToWire(const ledger::Grantee& grantee, ertr::v1::Grantee& out);
void ToWire(const ledger::ConsentScope& scope, ertr::v1::ConsentScope& out);
void ToWire(const ledger::RecordState& record, ledger::AccessBasis basis,
            ertr::v1::RecordInfo& out);
void ToWire(const ledger::GrantState& grant, bool active, ertr::v1::GrantInfo& out);
void ToWire(const ledger::AuditEntry& entry, ertr::v1::AuditEntryInfo& out);

// Fixed-size id from a request field; InvalidArgument names the field and its expected size.
template <typename T>
Result<T> RequestField(const std::string& raw, std::string_view field) {
  if (raw.size() != T::kSize) {
    return Status::InvalidArgument("request field '" + std::string(field) + "' must be " +
                                   std::to_string(T::kSize) + " bytes, got " +
                                   std::to_string(raw.size()));
  }
  return T::FromSpan(AsBytes(raw), field);
}

}  // namespace ertr::proto
