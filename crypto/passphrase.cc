#include "crypto/passphrase.h"

#include <cstdlib>
#include <cstring>
#include <fstream>

namespace ertr::crypto {

Result<SecureBuffer> ReadPassphrase(const std::string& file, const std::string& env_var,
                                    std::string_view file_setting) {
  std::string value;
  if (!file.empty()) {
    std::ifstream in(file);
    if (!in) return Status::NotFound("cannot read passphrase file " + file);
    std::getline(in, value);
  } else {
    const char* env = std::getenv(env_var.c_str());
    if (env == nullptr || *env == '\0') {
      return Status::InvalidArgument("no passphrase: set the environment variable " + env_var +
                                     " or " + std::string(file_setting));
    }
    value = env;
  }
  if (!value.empty() && value.back() == '\r') value.pop_back();
  SecureBuffer out(value.size());
  std::memcpy(out.data(), value.data(), value.size());
  Wipe(std::span<std::uint8_t>(reinterpret_cast<std::uint8_t*>(value.data()), value.size()));
  if (out.empty()) return Status::InvalidArgument("the passphrase is empty");
  return out;
}

}  // namespace ertr::crypto
