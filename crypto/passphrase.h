#pragma once

// Where ertrd and ertrctl get a key file passphrase: a file (first line), or an environment
// variable. Never from the command line, where it would land in shell history and `ps`.

#include <string>
#include <string_view>

#include "common/status.h"
#include "crypto/secure_buffer.h"

namespace ertr::crypto {

// Reads the passphrase from `file` if non-empty, else from the environment variable `env_var`.
// The result lives in guarded memory. `file_setting` names where the caller's user gives the file
// (a command-line option or a config field), for the error when neither is set.
Result<SecureBuffer> ReadPassphrase(const std::string& file, const std::string& env_var,
                                    std::string_view file_setting = "--passphrase-file FILE");

// Reads a small secret file whole (at most `max_bytes`: a TLS private key) straight into guarded
// memory. Errors name `what` (the file and its setting).
Result<SecureBuffer> ReadSecretFile(const std::string& file, std::size_t max_bytes,
                                    const std::string& what);

}  // namespace ertr::crypto
