#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>

#include "node/config.h"

namespace ertr::node {
namespace {

NodeConfig Sample() {
  NodeConfig c;
  c.home = "/tmp/h";
  c.validator_index = ReplicaId(2);
  c.institution_id = "hosp-c";
  c.listen_port = 1234;
  c.http_port = 2345;
  c.passphrase_file = "keys/passphrase";
  c.peers = {{ReplicaId(0), "127.0.0.1", 1000}, {ReplicaId(1), "10.0.0.2", 1001}};
  return c;
}

std::string ErrorOf(const std::string& text) {
  auto r = ParseNodeConfig(text, "/tmp/h", "config.toml");
  REQUIRE_FALSE(r.has_value());
  return r.error().message();
}

TEST_CASE("a rendered config parses back to the same values", "[unit][node]") {
  auto c = Sample();
  c.min_pipelined_batch = 77;
  c.mempool_max_mib = 12;
  c.mempool_max_per_signer = 345;
  c.mempool_blob_wait_seconds = 77'777;
  c.primary_link_timeout_ms = 0;  // off
  c.batch_wait_us = 250;
  auto parsed = ParseNodeConfig(RenderNodeConfig(c), c.home, "config.toml");
  REQUIRE(parsed.has_value());
  CHECK(parsed->validator_index == ReplicaId(2));
  CHECK(parsed->institution_id == "hosp-c");
  CHECK(parsed->listen_port == 1234);
  CHECK(parsed->http_port == 2345);
  CHECK(parsed->passphrase_file == "keys/passphrase");
  CHECK(parsed->min_pipelined_batch == 77);
  CHECK(parsed->mempool_max_mib == 12);
  CHECK(parsed->mempool_max_per_signer == 345);
  CHECK(parsed->mempool_blob_wait_seconds == 77'777);
  CHECK(parsed->primary_link_timeout_ms == 0);
  CHECK(parsed->batch_wait_us == 250);
  REQUIRE(parsed->peers.size() == 2);
  CHECK(parsed->peers[1].host == "10.0.0.2");
  CHECK(parsed->peers[1].port == 1001);
  CHECK(parsed->Resolve("data") == std::filesystem::path("/tmp/h/data"));
}

TEST_CASE("config errors name the file, the field and what to write", "[unit][node]") {
  CHECK(ErrorOf("[node]\ninstitution_id = \"a\"\n").find("'node.validator_index' is missing") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\n").find("'node.institution_id' is missing") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = -1\ninstitution_id = \"a\"\n")
            .find("'node.validator_index' must be an integer in 0..255") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\nlisten = \"nohost\"\n")
            .find("'node.listen' must be HOST:PORT") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\nlisten = \"h:70000\"\n")
            .find("'node.listen'") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[consensus]\n"
                "view_timeout_ms = 5\n")
            .find("'consensus.view_timeout_ms' must be an integer in 100..600000") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[consensus]\n"
                "primary_link_timeout_ms = -1\n")
            .find("'consensus.primary_link_timeout_ms' must be an integer in 0..600000") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[consensus]\n"
                "batch_wait_us = 100001\n")
            .find("'consensus.batch_wait_us' must be an integer in 0..100000") !=
        std::string::npos);
  // A misspelt setting is refused, not ignored.
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[mempool]\n"
                "max_per_singer = 10\n")
            .find("config.toml: field 'mempool.max_per_singer' is not a setting (misspelt?); "
                  "mempool takes: max_mib, max_per_signer, blob_wait_seconds") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[consenus]\n")
            .find("'consenus' is not a table of this file (misspelt?); the tables are: node, "
                  "api, keys, consensus, mempool, peers") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[[peers]]\n"
                "validator_index = 1\nadress = \"h:1\"\n")
            .find("field 'peers[0].adress' is not a setting") != std::string::npos);
  CHECK(ErrorOf("api = 5\n[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n")
            .find("'api' must be a table, written [api]") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[mempool]\n"
                "max_per_signer = 0\n")
            .find("'mempool.max_per_signer' must be an integer in 1..1000000") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[mempool]\n"
                "blob_wait_seconds = 4\n")
            .find("'mempool.blob_wait_seconds' must be an integer in 5..86400") !=
        std::string::npos);
  // This node's own index among its peers: most likely node.validator_index is wrong, so both
  // are named.
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[[peers]]\n"
                "validator_index = 0\naddress = \"127.0.0.1:1\"\n")
            .find("'peers[0].validator_index' is 0, this node's own node.validator_index") !=
        std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[[peers]]\n"
                "validator_index = 1\naddress = \"127.0.0.1:1\"\n[[peers]]\n"
                "validator_index = 1\naddress = \"127.0.0.1:2\"\n")
            .find("'peers[1].validator_index' repeats validator 1") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[[peers]]\n"
                "validator_index = 1\naddress = \"127.0.0.1\"\n")
            .find("'peers[0].address' must be HOST:PORT") != std::string::npos);
  CHECK(ErrorOf("[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[[peers]]\n"
                "validator_index = 1\naddress = \"0.0.0.0:26601\"\n")
            .find("'peers[0].address' is 0.0.0.0, which means every interface and cannot be "
                  "dialled") != std::string::npos);
  CHECK(ErrorOf("[node\nvalidator_index = 0\n").find("config.toml: not valid TOML at line 1") !=
        std::string::npos);
}

TEST_CASE("a missing config says how to make one, and one that is not a file says so",
          "[unit][node]") {
  const auto home =
      std::filesystem::temp_directory_path() / ("ertr-config-test-" + std::to_string(::getpid()));
  std::filesystem::remove_all(home);
  std::filesystem::create_directories(home);
  auto missing = LoadNodeConfig(home);
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error().code() == StatusCode::kNotFound);
  CHECK(missing.error().message().find("'ertrd init' (a hospital's node)") != std::string::npos);
  std::filesystem::create_directories(home / "config.toml");
  auto directory = LoadNodeConfig(home);
  REQUIRE_FALSE(directory.has_value());
  CHECK(directory.error().message() == (home / "config.toml").string() + " is not a regular file");
  std::filesystem::remove_all(home);
}

TEST_CASE("the API refuses to listen off loopback without TLS", "[unit][node]") {
  const std::string base = "[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[api]\n";
  CHECK(ErrorOf(base + "listen = \"0.0.0.0:26800\"\n")
            .find("'api.listen' is '0.0.0.0', off loopback, but TLS is not configured") !=
        std::string::npos);
  CHECK(ErrorOf(base + "listen = \"127.0.0.1:26800\"\ntls_cert_file = \"c.pem\"\n")
            .find("'api.tls_key_file' is missing") != std::string::npos);
  auto tls = ParseNodeConfig(base +
                                 "listen = \"0.0.0.0:26800\"\ntls_cert_file = \"c.pem\"\n"
                                 "tls_key_file = \"k.pem\"\n",
                             "/home", "config.toml");
  REQUIRE(tls.has_value());
  CHECK(tls->api_host == "0.0.0.0");
  auto again = ParseNodeConfig(RenderNodeConfig(*tls), "/home", "config.toml");
  REQUIRE(again.has_value());
  CHECK(again->api_tls_cert_file == "c.pem");
  CHECK(again->api_tls_key_file == "k.pem");
  CHECK(again->api_tls_key_passphrase_file.empty());
  // An encrypted key's own passphrase file is read and written back; alone it makes no sense.
  auto encrypted =
      ParseNodeConfig(base +
                          "listen = \"0.0.0.0:26800\"\ntls_cert_file = \"c.pem\"\n"
                          "tls_key_file = \"k.pem\"\ntls_key_passphrase_file = \"p\"\n",
                      "/home", "config.toml");
  REQUIRE(encrypted.has_value());
  auto encrypted_again = ParseNodeConfig(RenderNodeConfig(*encrypted), "/home", "config.toml");
  REQUIRE(encrypted_again.has_value());
  CHECK(encrypted_again->api_tls_key_passphrase_file == "p");
  CHECK(ErrorOf(base + "tls_key_passphrase_file = \"p\"\n")
            .find("'api.tls_key_passphrase_file' is set but api.tls_key_file is not") !=
        std::string::npos);
  CHECK(ParseNodeConfig(base + "listen = \"localhost:26800\"\n", "/home", "config.toml"));
}

TEST_CASE("the HTTP endpoints stay on loopback unless the operator allows the network",
          "[unit][node]") {
  const std::string base = "[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n";
  CHECK(ErrorOf(base + "http = \"0.0.0.0:26700\"\n")
            .find("'node.http' is '0.0.0.0', off loopback. Its endpoints (/metrics, /healthz, "
                  "/v1/status) answer anyone, without authentication") != std::string::npos);
  CHECK(ErrorOf(base + "http = \"10.1.2.3:26700\"\nhttp_allow_remote = \"yes\"\n")
            .find("'node.http_allow_remote' must be true or false") != std::string::npos);
  CHECK(ErrorOf(base + "http = \"10.1.2.3:26700\"\nhttp_allow_remote = 1\n")
            .find("'node.http_allow_remote' must be true or false") != std::string::npos);
  auto local = ParseNodeConfig(base + "http = \"localhost:26700\"\n", "/home", "config.toml");
  REQUIRE(local.has_value());
  CHECK_FALSE(local->http_allow_remote);
  CHECK(RenderNodeConfig(*local).find("http_allow_remote") == std::string::npos);
  auto remote = ParseNodeConfig(base + "http = \"10.1.2.3:26700\"\nhttp_allow_remote = true\n",
                                "/home", "config.toml");
  REQUIRE(remote.has_value());
  CHECK(remote->http_host == "10.1.2.3");
  auto again = ParseNodeConfig(RenderNodeConfig(*remote), "/home", "config.toml");
  REQUIRE(again.has_value());
  CHECK(again->http_allow_remote);
  CHECK(again->http_host == "10.1.2.3");
}

TEST_CASE("an upload's idle limit is read, checked and written back", "[unit][node]") {
  const std::string base = "[node]\nvalidator_index = 0\ninstitution_id = \"a\"\n[api]\n";
  auto plain = ParseNodeConfig(base, "/home", "config.toml");
  REQUIRE(plain.has_value());
  CHECK(plain->api_upload_idle_seconds == 120);
  auto set = ParseNodeConfig(base + "upload_idle_seconds = 300\n", "/home", "config.toml");
  REQUIRE(set.has_value());
  CHECK(set->api_upload_idle_seconds == 300);
  auto again = ParseNodeConfig(RenderNodeConfig(*set), "/home", "config.toml");
  REQUIRE(again.has_value());
  CHECK(again->api_upload_idle_seconds == 300);
  CHECK(ErrorOf(base + "upload_idle_seconds = 5\n")
            .find("'api.upload_idle_seconds' must be an integer in 10..3600") != std::string::npos);
}

}  // namespace
}  // namespace ertr::node
