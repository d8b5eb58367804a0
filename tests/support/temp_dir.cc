#include "tests/support/temp_dir.h"

#include <array>

#include "common/bytes.h"
#include "crypto/secure_buffer.h"

namespace ertr::testing {

TempDir::TempDir(const std::string& prefix) {
  std::array<std::uint8_t, 8> rnd{};
  crypto::RandomBytes(rnd);
  path_ = std::filesystem::temp_directory_path() / (prefix + "-" + ToHex(rnd));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::size_t CountFiles(const std::filesystem::path& dir) {
  std::size_t n = 0;
  std::error_code ec;
  for (std::filesystem::recursive_directory_iterator it(dir, ec), end; !ec && it != end;
       it.increment(ec)) {
    if (it->is_regular_file(ec)) ++n;
  }
  return n;
}

}  // namespace ertr::testing
