#pragma once

// Where ertrd and ertrctl get a key file passphrase: a file (first line), or an environment
// variable. Never from the command line, where it would land in shell history and `ps`.

#include <string>

#include "common/status.h"
#include "crypto/secure_buffer.h"

namespace ertr::crypto {

// Reads the passphrase from `file` if non-empty, else from the environment variable `env_var`.
// The result lives in guarded memory.
Result<SecureBuffer> ReadPassphrase(const std::string& file, const std::string& env_var);

}  // namespace ertr::crypto
