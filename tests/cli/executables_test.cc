// The executables answer --help and --version properly, and ertrctl makes real key files.

#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/support/ports.h"
#include "tests/support/temp_dir.h"

namespace {

struct Run {
  int exit_code;
  std::string output;
};

Run Exec(const std::string& cmd) {
  Run r{-1, ""};
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// `ertrd testnet` in `dir`/net with P2P, HTTP and API ports from `base`, `base` + 10 and
// `base` + 20; the network's directory.
std::string MakeTestnet(const ertr::testing::TempDir& dir, int validators, int base) {
  const std::string net = (dir / "net").string();
  REQUIRE(Exec(std::string(ERTRD) + " testnet --dir " + net + " --validators " +
               std::to_string(validators) + " --base-port " + std::to_string(base) +
               " --base-http-port " + std::to_string(base + 10) + " --base-api-port " +
               std::to_string(base + 20))
              .exit_code == 0);
  return net;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST_CASE("ertrd and ertrctl answer --version and --help", "[unit]") {
  for (const std::string exe : {ERTRD, ERTRCTL}) {
    auto v = Exec(exe + " --version");
    CHECK(v.exit_code == 0);
    CHECK(v.output.find("0.1.0") != std::string::npos);
    auto h = Exec(exe + " --help");
    CHECK(h.exit_code == 0);
    CHECK(h.output.find("Usage") != std::string::npos);
    auto bad = Exec(exe + " --no-such-flag");
    CHECK(bad.exit_code == 2);
  }
  CHECK(Exec(std::string(ERTRD) + " --version").output.find("rocksdb") != std::string::npos);
}

TEST_CASE("ertrctl keys gen writes an encrypted key file that keys show reads", "[unit]") {
  ertr::testing::TempDir dir;
  std::string file = (dir / "user.key").string();
  auto gen = Exec("ERTR_PASSPHRASE=s3cret " + std::string(ERTRCTL) +
                  " keys gen --kdf interactive --out " + file);
  REQUIRE(gen.exit_code == 0);
  auto pos = gen.output.find("public_key: ");
  REQUIRE(pos != std::string::npos);
  std::string pub = gen.output.substr(pos + 12, 64);
  auto show = Exec(std::string(ERTRCTL) + " keys show " + file);
  CHECK(show.exit_code == 0);
  CHECK(show.output.find(pub) != std::string::npos);
  // Refuses to overwrite, and refuses to run without a passphrase.
  auto again = Exec("ERTR_PASSPHRASE=s3cret " + std::string(ERTRCTL) + " keys gen --out " + file);
  CHECK(again.exit_code == 1);
  CHECK(again.output.find("exists already") != std::string::npos);
  auto nopass = Exec("env -u ERTR_PASSPHRASE " + std::string(ERTRCTL) + " keys gen --out " +
                     (dir / "other.key").string());
  CHECK(nopass.exit_code == 1);
  CHECK(nopass.output.find("ERTR_PASSPHRASE") != std::string::npos);
  // A missing key file is "not found" (exit code 4, docs/api.md section 5).
  auto junk = Exec(std::string(ERTRCTL) + " keys show " + (dir / "missing.key").string());
  CHECK(junk.exit_code == 4);
}

TEST_CASE("ertrctl refuses a duration too large to hold instead of wrapping it", "[unit]") {
  ertr::testing::TempDir dir("ertrctl-duration");
  const std::string key = dir.path().string() + "/u.key";
  const std::string env = "ERTR_PASSPHRASE=duration-test-pass ";
  REQUIRE(Exec(env + ERTRCTL + " keys gen --type ed25519 --out " + key).exit_code == 0);
  // No node listens on port 1: a duration that parses gets as far as connecting (exit 5).
  const std::string grant =
      env + ERTRCTL + " --key " + key +
      " --chain-id x --node 127.0.0.1:1 consent grant --patient "
      "30a44c302fb2d192812974c5c969235c --to-institution hosp-b --expires-in ";
  for (const std::string huge : {"18446744073709551617d", "1099511627776d", "36501d"}) {
    auto r = Exec(grant + huge);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("--expires-in must be at most 100 years (36500d), got '" + huge + "'") !=
          std::string::npos);
  }
  CHECK(Exec(grant + "36500d").exit_code == 5);
  CHECK(Exec(grant + "30x").output.find("a number with a unit") != std::string::npos);
}

TEST_CASE("ertrctl record submit given a directory says so and exits as a usage error", "[unit]") {
  ertr::testing::TempDir dir("ertrctl-submit-dir");
  const std::string key = dir.path().string() + "/u.key";
  const std::string env = "ERTR_PASSPHRASE=submit-dir-pass ";
  REQUIRE(Exec(env + ERTRCTL + " keys gen --type ed25519 --out " + key).exit_code == 0);
  auto r = Exec(env + ERTRCTL + " --key " + key +
                " --chain-id x --node 127.0.0.1:1 record submit --patient "
                "30a44c302fb2d192812974c5c969235c " +
                dir.path().string());
  CHECK(r.exit_code == 2);
  CHECK(r.output.find(dir.path().string() + " is a directory: give one record file") !=
        std::string::npos);
}

TEST_CASE("ertrd selfcheck runs end to end in a scratch directory", "[unit]") {
  ertr::testing::TempDir dir;
  auto r = Exec(std::string(ERTRD) + " selfcheck --dir " + (dir / "scratch").string());
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("selfcheck passed") != std::string::npos);
  auto again = Exec(std::string(ERTRD) + " selfcheck --dir " + (dir / "scratch").string());
  CHECK(again.exit_code == 1);
}

TEST_CASE("ertrd start refuses a log level it does not know instead of logging nothing", "[unit]") {
  ertr::testing::TempDir dir;
  auto r =
      Exec(std::string(ERTRD) + " start --home " + dir.path().string() + " --log-level verbose");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("--log-level") != std::string::npos);
  CHECK(r.output.find("verbose") != std::string::npos);
}

TEST_CASE("ertrd testnet refuses base ports whose nodes would fall past port 65535", "[unit]") {
  ertr::testing::TempDir dir;
  auto r = Exec(std::string(ERTRD) + " testnet --dir " + (dir / "net").string() +
                " --validators 4 --base-port 65534");
  CHECK(r.exit_code == 2);
  CHECK(r.output.find("--base-port 65534 with 4 validators gives ports outside 1..65535") !=
        std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "net" / "node0"));
}

TEST_CASE("ertrd start refuses an API port that another process listens on", "[unit]") {
  // gRPC asks for SO_REUSEPORT unless told not to: a second process listening that way used to
  // share the port with the node, and calls went to either.
  ertr::testing::PortBlock ports(100);
  REQUIRE(ports.base() != 0);
  const int api = ports.base() + 20;
  const int squatter = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(squatter >= 0);
  const int one = 1;
  REQUIRE(::setsockopt(squatter, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) == 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(api));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(squatter, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(squatter, 4) == 0);

  ertr::testing::TempDir dir;
  const std::string net = MakeTestnet(dir, 1, ports.base());
  // Without the refusal the node would run (and `timeout` end it with 124).
  auto r = Exec("timeout 60 " + std::string(ERTRD) + " start --home " + net + "/node0");
  ::close(squatter);
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("api.listen") != std::string::npos);
}

TEST_CASE("ertrd start names a TLS key file that is not the certificate's key", "[unit]") {
  // gRPC reported any bad TLS file as a port it could not listen on.
  ertr::testing::PortBlock ports(100);
  REQUIRE(ports.base() != 0);
  ertr::testing::TempDir dir;
  const std::string net = MakeTestnet(dir, 1, ports.base());
  const std::string home = net + "/node0";
  for (const char* name : {"api", "other"}) {
    REQUIRE(Exec(std::string("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
                             "-days 2 -nodes -subj /CN=localhost -keyout ") +
                 home + "/" + name + ".key -out " + home + "/" + name + ".crt")
                .exit_code == 0);
  }
  const std::string config = home + "/config.toml";
  const std::string text = ReadText(config);
  // `until_started`: the node is expected to run; it is stopped (SIGTERM) once it logs
  // event=node_started, or after 120 s.
  const auto start_with_key = [&](const std::string& key, const std::string& passphrase_file = "",
                                  bool until_started = false) {
    std::string edited = text;
    const auto at = edited.find("\n[keys]\n");
    REQUIRE(at != std::string::npos);
    edited.insert(at, "\ntls_cert_file = \"api.crt\"\ntls_key_file = \"" + key + "\"\n" +
                          (passphrase_file.empty()
                               ? std::string()
                               : "tls_key_passphrase_file = \"" + passphrase_file + "\"\n"));
    std::ofstream(config) << edited;
    if (until_started) {
      const std::string log = home + "/start.log";
      return Exec(std::string(ERTRD) + " start --home " + home + " >" + log +
                  " 2>&1 & pid=$!; for i in $(seq 1200); do grep -q event=node_started " + log +
                  " && break; kill -0 $pid 2>/dev/null || break; sleep 0.1; done; kill $pid; "
                  "wait $pid; cat " +
                  log);
    }
    // Without the check the node would fail later, blaming the port (or `timeout` end it).
    return Exec("timeout 60 " + std::string(ERTRD) + " start --home " + home);
  };
  auto r = start_with_key("other.key");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("other.key (api.tls_key_file) is not the private key of the certificate") !=
        std::string::npos);
  CHECK(r.output.find("port in use") == std::string::npos);
  r = start_with_key("config.toml");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("config.toml (api.tls_key_file) holds no PEM private key") !=
        std::string::npos);

  // Encrypted: under the node's own passphrase it is refused (PEM's cheap key derivation would
  // expose that passphrase); under one of its own it opens.
  std::ofstream(home + "/tls-passphrase") << "a passphrase for the TLS key only\n";
  for (const char* pass : {"keys/passphrase", "tls-passphrase"}) {
    REQUIRE(Exec("openssl pkcs8 -topk8 -scrypt -in " + home + "/api.key -out " + home + "/" + pass +
                 ".enc -passout file:" + home + "/" + pass)
                .exit_code == 0);
  }
  r = start_with_key("keys/passphrase.enc");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("passphrase.enc (api.tls_key_file) is an encrypted private key: set "
                      "api.tls_key_passphrase_file") != std::string::npos);
  r = start_with_key("keys/passphrase.enc", "keys/passphrase");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("passphrase (api.tls_key_passphrase_file) holds the node's key passphrase") !=
        std::string::npos);
  // The node runs: without a warning, and with a plain key, warned of it.
  r = start_with_key("tls-passphrase.enc", "tls-passphrase", true);
  INFO(r.output);
  CHECK(r.output.find("event=node_started") != std::string::npos);
  CHECK(r.output.find("event=tls_key_unencrypted") == std::string::npos);
  r = start_with_key("api.key", "", true);
  INFO(r.output);
  CHECK(r.output.find("event=node_started") != std::string::npos);
  CHECK(r.output.find("event=tls_key_unencrypted") != std::string::npos);
}

TEST_CASE("ertrd start refuses a config whose [[peers]] leave out a validator", "[unit]") {
  // Found by an outside fault run: the node started, and every connection of the missing
  // validator was refused as "not a validator of this chain", many times a second.
  ertr::testing::PortBlock ports(100);
  REQUIRE(ports.base() != 0);
  ertr::testing::TempDir dir;
  const std::string net = MakeTestnet(dir, 2, ports.base());
  const std::string config = net + "/node1/config.toml";
  const std::string text = ReadText(config);
  const auto at = text.find("[[peers]]");
  REQUIRE(at != std::string::npos);
  std::ofstream(config) << text.substr(0, at);
  auto r = Exec("timeout 60 " + std::string(ERTRD) + " start --home " + net + "/node1");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("config [[peers]] has no entry for validator 0") != std::string::npos);
}

}  // namespace
