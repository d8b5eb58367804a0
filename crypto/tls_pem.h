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

// Whether `key_pem` is an encrypted PEM key: PKCS#8 "ENCRYPTED PRIVATE KEY", or an older RSA or
// EC key with "Proc-Type: 4,ENCRYPTED".
bool IsEncryptedPemKey(std::string_view key_pem);

// The private key of `key_pem`, checked against the first certificate of `cert_pem`, as
// unencrypted PKCS#8 PEM in guarded memory (gRPC takes no passphrase: the caller hands it over and
// wipes it). An encrypted key is opened with `passphrase`, which `passphrase_what` names (empty:
// none was given). PEM encryption derives its key cheaply (PBKDF2 or MD5, against the key files'
// Argon2id), so this passphrase must not be the node's own (ADR 0035). Errors are InvalidArgument
// naming `key_what` (and `cert_what` or `passphrase_what`), never quoting a file.
Result<SecureBuffer> UnlockPemKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                      std::string_view passphrase, const std::string& cert_what,
                                      const std::string& key_what,
                                      const std::string& passphrase_what);

}  // namespace ertr::crypto
