#pragma once

// Checks of the PEM files that TLS on the API uses (the node's certificate chain and key, a
// client's CA file), parsed with libcrypto before gRPC is given them. gRPC reports a bad file
// only as a failure to listen, or as an empty address list at the first call; these checks name
// the file and what is wrong with it.
//
// Thread-safety: safe from any thread.

#include <string>
#include <string_view>

#include "common/status.h"

namespace ertr::crypto {

// Ok if `pem` holds one or more X.509 certificates; else InvalidArgument naming `what` (the
// file and the setting it came from).
Status CheckPemCertificates(std::string_view pem, const std::string& what);

// Ok if `key_pem` holds an unencrypted private key matching the first certificate of `cert_pem`;
// else InvalidArgument naming `key_what` (and `cert_what` for a mismatch).
Status CheckPemKeyPair(std::string_view cert_pem, std::string_view key_pem,
                       const std::string& cert_what, const std::string& key_what);

}  // namespace ertr::crypto
