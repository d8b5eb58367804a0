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
#include "crypto/secure_buffer.h"

namespace ertr::crypto {

// Ok if `pem` holds one or more X.509 certificates; else InvalidArgument naming `what` (the
// file and the setting it came from).
Status CheckPemCertificates(std::string_view pem, const std::string& what);

// The private key of `key_pem`, checked against the first certificate of `cert_pem`, as
// unencrypted PKCS#8 PEM in guarded memory (gRPC takes no passphrase: the caller hands it over and
// wipes it). An encrypted key (PKCS#8 "ENCRYPTED PRIVATE KEY", or an older PEM key with
// "Proc-Type: 4,ENCRYPTED") is opened with `passphrase`; `*was_encrypted` says which it was.
// Errors are InvalidArgument naming `key_what` (and `cert_what` for a mismatch), never quoting
// the key.
Result<SecureBuffer> UnlockPemKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                      std::string_view passphrase, const std::string& cert_what,
                                      const std::string& key_what, bool* was_encrypted);

}  // namespace ertr::crypto
