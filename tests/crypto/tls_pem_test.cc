// The API's TLS files as libcrypto reads them before gRPC is given them: an encrypted key opened
// with its own passphrase, and every bad file named. Keys are made with the openssl command,
// as an operator makes them.

#include "crypto/tls_pem.h"

#include <catch2/catch.hpp>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/temp_dir.h"

namespace ertr::crypto {
namespace {

std::string ReadText(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void Run(const std::string& cmd) {
  INFO(cmd);
  REQUIRE(std::system((cmd + " >/dev/null 2>&1").c_str()) == 0);
}

std::string Text(const SecureBuffer& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

TEST_CASE("the API's TLS key may be encrypted under a passphrase of its own", "[unit]") {
  testing::TempDir dir;
  const std::string d = dir.path().string();
  const std::string pass = "correct horse battery staple";
  std::ofstream(dir / "passphrase") << pass << "\n";
  Run("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -days 2 -nodes "
      "-subj /CN=localhost -keyout " +
      d + "/plain.key -out " + d + "/api.crt");
  Run("openssl pkcs8 -topk8 -v2 aes-256-cbc -in " + d + "/plain.key -out " + d +
      "/pkcs8.key -passout file:" + d + "/passphrase");
  Run("openssl pkey -traditional -aes256 -in " + d + "/plain.key -out " + d +
      "/traditional.key -passout file:" + d + "/passphrase");
  Run("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:prime256v1 -out " + d +
      "/other.key");
  const std::string cert = ReadText(dir / "api.crt");
  const auto unlock = [&](const std::string& key_file, std::string_view passphrase) {
    return UnlockPemKeyPair(cert, ReadText(dir / key_file), passphrase, "api.crt (cert)",
                            key_file + " (key)", "pass.txt (passphrase)");
  };

  CHECK_FALSE(IsEncryptedPemKey(ReadText(dir / "plain.key")));
  auto plain = unlock("plain.key", "");
  REQUIRE(plain.has_value());
  CHECK(Text(*plain).rfind("-----BEGIN PRIVATE KEY-----", 0) == 0);
  // Either encrypted form opens to the same key, handed on unencrypted.
  for (const char* file : {"pkcs8.key", "traditional.key"}) {
    INFO(file);
    CHECK(IsEncryptedPemKey(ReadText(dir / file)));
    auto opened = unlock(file, pass);
    REQUIRE(opened.has_value());
    CHECK(Text(*opened) == Text(*plain));

    auto wrong = unlock(file, "not the passphrase");
    REQUIRE_FALSE(wrong.has_value());
    CHECK(wrong.error().code() == StatusCode::kInvalidArgument);
    CHECK(wrong.error().message().find(
              std::string(file) +
              " (key) is an encrypted private key that the passphrase in pass.txt (passphrase) "
              "does not open") == 0);
    CHECK(unlock(file, "").error().message() ==
          std::string(file) +
              " (key) is an encrypted private key: set pass.txt (passphrase) to a file holding "
              "its passphrase");
    // Longer than OpenSSL's buffer for a PEM passphrase: said so, not blamed on the passphrase.
    CHECK(unlock(file, std::string(2000, 'x'))
              .error()
              .message()
              .find("is longer than OpenSSL reads for a PEM key") != std::string::npos);
  }

  auto other = unlock("other.key", "");
  REQUIRE_FALSE(other.has_value());
  CHECK(other.error().message() ==
        "other.key (key) is not the private key of the certificate in api.crt (cert): give the "
        "key the certificate was issued for");
  auto not_a_key = unlock("api.crt", "");
  REQUIRE_FALSE(not_a_key.has_value());
  CHECK(not_a_key.error().message().find("api.crt (key) holds no PEM private key") == 0);
  auto no_cert = UnlockPemKeyPair(ReadText(dir / "plain.key"), ReadText(dir / "plain.key"), "",
                                  "plain.key (cert)", "plain.key (key)", "none");
  REQUIRE_FALSE(no_cert.has_value());
  CHECK(no_cert.error().message().find("plain.key (cert) holds no PEM certificate") == 0);
  // No error quotes a key file's contents (its first base64 line stands for them).
  const std::string key_text = ReadText(dir / "plain.key");
  const auto first = key_text.find('\n') + 1;
  const std::string body = key_text.substr(first, key_text.find('\n', first) - first);
  REQUIRE(body.size() >= 32);
  for (const auto& e :
       {not_a_key.error(), other.error(), no_cert.error(), unlock("pkcs8.key", "wrong").error()}) {
    CHECK(e.message().find(body) == std::string::npos);
  }
}

}  // namespace
}  // namespace ertr::crypto
