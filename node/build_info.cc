#include "node/build_info.h"

#include <google/protobuf/stubs/common.h>
#include <rocksdb/version.h>
#include <spdlog/version.h>

#include "common/version.h"

namespace ertr::node {

std::string BuildInfo() {
  std::string out = std::string(kProductName) + " " + kVersion + "\n";
  out += "  rocksdb  " + std::to_string(ROCKSDB_MAJOR) + "." + std::to_string(ROCKSDB_MINOR) + "." +
         std::to_string(ROCKSDB_PATCH) + "\n";
  out += "  protobuf " + google::protobuf::internal::VersionString(GOOGLE_PROTOBUF_VERSION) + "\n";
  out += "  spdlog   " + std::to_string(SPDLOG_VER_MAJOR) + "." + std::to_string(SPDLOG_VER_MINOR) +
         "." + std::to_string(SPDLOG_VER_PATCH) + "\n";
#ifdef __VERSION__
  out += "  compiler " + std::string(__VERSION__) + "\n";
#endif
  return out;
}

}  // namespace ertr::node
