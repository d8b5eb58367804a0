#include "crypto/tls_pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <memory>

namespace ertr::crypto {
namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }  // clears the key's secret parts
};

std::unique_ptr<BIO, BioFree> Reader(std::string_view pem) {
  return std::unique_ptr<BIO, BioFree>(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// Never prompts for a passphrase (an encrypted key would otherwise ask on the terminal).
int NoPassphrase(char*, int, int, void*) { return 0; }

// The first certificate of `pem` (read as gRPC reads it, TRUSTED CERTIFICATE blocks too), or
// none.
std::unique_ptr<X509, X509Free> FirstCertificate(std::string_view pem) {
  if (pem.size() >= (1u << 30)) return nullptr;
  auto bio = Reader(pem);
  if (!bio) return nullptr;
  return std::unique_ptr<X509, X509Free>(
      PEM_read_bio_X509_AUX(bio.get(), nullptr, NoPassphrase, nullptr));
}

Status NoCertificate(const std::string& what, std::string_view give) {
  return Status::InvalidArgument(what +
                                 " holds no PEM certificate (a '-----BEGIN CERTIFICATE-----' "
                                 "block): give " +
                                 std::string(give));
}

}  // namespace

Status CheckPemCertificates(std::string_view pem, const std::string& what) {
  const bool ok = FirstCertificate(pem) != nullptr;
  ERR_clear_error();
  return ok ? Status::Ok()
            : NoCertificate(what, "the CA certificate file, not a key or another file");
}

Status CheckPemKeyPair(std::string_view cert_pem, std::string_view key_pem,
                       const std::string& cert_what, const std::string& key_what) {
  const auto cert = FirstCertificate(cert_pem);
  if (!cert) {
    ERR_clear_error();
    return NoCertificate(cert_what, "the node's certificate chain, its own certificate first");
  }
  auto bio = key_pem.size() < (1u << 30) ? Reader(key_pem) : nullptr;
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr) : nullptr);
  Status s = Status::Ok();
  if (!key) {
    s = Status::InvalidArgument(key_what +
                                " holds no unencrypted PEM private key (a '-----BEGIN PRIVATE "
                                "KEY-----' block, or an RSA or EC one): give the key file of "
                                "the certificate, without a passphrase");
  } else if (X509_check_private_key(cert.get(), key.get()) != 1) {
    s = Status::InvalidArgument(key_what + " is not the private key of the certificate in " +
                                cert_what + ": give the key the certificate was issued for");
  }
  ERR_clear_error();
  return s;
}

}  // namespace ertr::crypto
