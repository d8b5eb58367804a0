#include "storage/state_accumulator.h"

#include <string>

#include "storage/state_store.h"

namespace ertr::storage {

Status ValidateDelta(const StateDelta& delta) {
  for (const auto& [key, value] : delta.writes) {
    if (key.empty() || key.size() > kMaxStateKeySize) {
      return Status::InvalidArgument("state key of " + std::to_string(key.size()) +
                                     " bytes; keys must be 1.." + std::to_string(kMaxStateKeySize) +
                                     " bytes");
    }
    if (value && value->size() > kMaxStateValueSize) {
      return Status::InvalidArgument("state value for key " + ToHex(key).substr(0, 32) + " is " +
                                     std::to_string(value->size()) + " bytes; the limit is " +
                                     std::to_string(kMaxStateValueSize));
    }
  }
  return Status::Ok();
}

Result<crypto::LtHash16> AccumulateDelta(crypto::LtHash16 acc, const StateDelta& delta,
                                         const CurrentValueFn& current) {
  for (const auto& [key, value] : delta.writes) {
    ERTR_ASSIGN_OR_RETURN(std::optional<Bytes> old, current(key));
    if (old) acc.RemoveEntry(key, *old);
    if (value) acc.AddEntry(key, *value);
  }
  return acc;
}

}  // namespace ertr::storage
