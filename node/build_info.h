#pragma once

// Versions of ertrchain and of the libraries it was built and is running with, for --version
// and for support requests.

#include <string>

namespace ertr::node {

std::string BuildInfo();

}  // namespace ertr::node
