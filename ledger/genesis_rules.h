#pragma once

// Internal to ledger/: the genesis transaction (docs/spec/ledger.md, "Genesis").

#include "common/state_delta.h"
#include "common/state_reader.h"
#include "crypto/signing.h"
#include "ledger/types.h"

namespace ertr::ledger::rules {

Result<StateDelta> ApplyGenesis(const Transaction& tx, const StateReader& state,
                                const crypto::Verifier& verifier);

}  // namespace ertr::ledger::rules
