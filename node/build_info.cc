#include "node/build_info.h"

#include <google/protobuf/stubs/common.h>
#include <spdlog/version.h>

#include "common/version.h"
#include "storage/stores.h"

namespace ertr::node {

std::string BuildInfo() {
  std::string out = std::string(kProductName) + " " + kVersion + "\n";
  out += "  storage  " + storage::StorageEngineVersion() + "\n";
  out += "  protobuf " + google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION) + "\n";
  out += "  spdlog   " + std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) +
         "." + std::to_string(SPDLOG_VER_PATCH) + "\n";
#ifdef __VERSION__
  out += "  compiler " + std::string(__VERSION__) + "\n";
#endif
  return out;
}

}  // namespace ertr::node
