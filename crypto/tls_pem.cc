#include "crypto/tls_pem.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
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

// Gives OpenSSL the key's passphrase, or none if it does not fit its buffer (noted, to say so).
struct PassphraseFeed {
  std::string_view passphrase;
  bool too_long = false;
};
int GivePassphrase(char* buf, int size, int, void* u) {
  auto* feed = static_cast<PassphraseFeed*>(u);
  if (size < 0 || feed->passphrase.size() > static_cast<std::size_t>(size)) {
    feed->too_long = true;
    return 0;
  }
  std::copy(feed->passphrase.begin(), feed->passphrase.end(), buf);
  return static_cast<int>(feed->passphrase.size());
}

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

bool IsEncryptedPemKey(std::string_view key_pem) {
  return key_pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
         key_pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
}

Result<SecureBuffer> UnlockPemKeyPair(std::string_view cert_pem, std::string_view key_pem,
                                      std::string_view passphrase, const std::string& cert_what,
                                      const std::string& key_what,
                                      const std::string& passphrase_what) {
  const auto cert = FirstCertificate(cert_pem);
  if (!cert) {
    ERR_clear_error();
    return NoCertificate(cert_what, "the node's certificate chain, its own certificate first");
  }
  const bool encrypted = IsEncryptedPemKey(key_pem);
  if (encrypted && passphrase.empty()) {
    return Status::InvalidArgument(key_what + " is an encrypted private key: set " +
                                   passphrase_what + " to a file holding its passphrase");
  }
  auto bio = key_pem.size() < (1u << 30) ? Reader(key_pem) : nullptr;
  PassphraseFeed feed{passphrase};
  std::unique_ptr<EVP_PKEY, KeyFree> key(
      bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, GivePassphrase, &feed) : nullptr);
  ERR_clear_error();
  if (!key && feed.too_long) {
    return Status::InvalidArgument("the passphrase of " + key_what + " (" + passphrase_what +
                                   ") is longer than OpenSSL reads for a PEM key (" +
                                   std::to_string(PEM_BUFSIZE) +
                                   " bytes): encrypt the key with a shorter one");
  }
  if (!key && encrypted) {
    return Status::InvalidArgument(
        key_what + " is an encrypted private key that the passphrase in " + passphrase_what +
        " does not open (or it uses a cipher this OpenSSL lacks): give "
        "the passphrase it was encrypted with");
  }
  if (!key) {
    return Status::InvalidArgument(key_what +
                                   " holds no PEM private key (a '-----BEGIN ENCRYPTED PRIVATE "
                                   "KEY-----' or '-----BEGIN PRIVATE KEY-----' block, or an RSA "
                                   "or EC one): give the key file of the certificate");
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return Status::InvalidArgument(key_what + " is not the private key of the certificate in " +
                                   cert_what + ": give the key the certificate was issued for");
  }
  // Written out unencrypted for gRPC, through a BIO whose memory OpenSSL clears when it frees it.
  std::unique_ptr<BIO, BioFree> out(BIO_new(BIO_s_secmem()));
  char* data = nullptr;
  const long size = out && PEM_write_bio_PKCS8PrivateKey(out.get(), key.get(), nullptr, nullptr, 0,
                                                         nullptr, nullptr) == 1
                        ? BIO_get_mem_data(out.get(), &data)
                        : 0;
  ERR_clear_error();
  if (size <= 0 || data == nullptr) {
    return Status::Internal("cannot re-encode the private key of " + key_what + " for TLS");
  }
  SecureBuffer pem(static_cast<std::size_t>(size));
  std::copy(data, data + size, pem.data());
  return pem;
}

}  // namespace ertr::crypto
