#pragma once

// `ertrd selfcheck`: exercises this machine's crypto and storage end to end in a scratch data
// directory (keys, payload encryption, envelopes, blob store, an atomic block append, reopen and
// verify) and reports each step. For operators checking a new install.

#include <filesystem>
#include <ostream>

#include "common/status.h"

namespace ertr::node {

Status RunSelfCheck(const std::filesystem::path& dir, std::ostream& out);

}  // namespace ertr::node
