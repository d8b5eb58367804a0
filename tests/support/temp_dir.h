#pragma once

// TempDir: a fresh directory under $TMPDIR, removed with its contents on destruction.

#include <cstddef>
#include <filesystem>
#include <string>

namespace ertr::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "ertr-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The regular files under `dir`, recursively (0 if it does not exist).
std::size_t CountFiles(const std::filesystem::path& dir);

}  // namespace ertr::testing
