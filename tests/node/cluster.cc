#include "tests/node/cluster.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <fstream>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include "crypto/key_file.h"
#include "crypto/secure_buffer.h"
#include "net/asio.h"
#include "node/testnet.h"
#include "proto/codec.h"
#include "proto/ledger_codec.h"
#include "tests/support/spawn.h"
#include "tests/support/wait.h"

namespace ertr::testing {

namespace beast = boost::beast;
namespace http = beast::http;

std::optional<HttpResult> HttpCall(std::uint16_t port, const std::string& method,
                                   const std::string& target, const std::string& body) {
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(10));
    stream.connect(
        boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.skip(req.method() == http::verb::head);  // a HEAD response has no body to read
    http::read(stream, buffer, parser);
    const auto& res = parser.get();
    std::uint64_t length = 0;
    if (auto field = res.find(http::field::content_length); field != res.end()) {
      length = std::stoull(std::string(field->value()));
    }
    return HttpResult{res.result_int(), res.body(), length};
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::uint64_t JsonNumber(const std::string& json, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + key + "\":([0-9]+)"))) {
    return std::stoull(m[1]);
  }
  return 0;
}

std::string JsonString(const std::string& json, const std::string& key) {
  std::smatch m;
  if (std::regex_search(json, m, std::regex("\"" + key + "\":\"([^\"]*)\""))) return m[1];
  return "";
}

}  // namespace

Cluster::Cluster(int validators, bool benchmark_mode) : n_(validators), dir_("ertr-cluster") {
  // A block of ports (p2p, HTTP, API: the first 30) reserved for this cluster
  // (tests/support/ports.h).
  REQUIRE(validators <= 10);
  REQUIRE(ports_.base() != 0);
  p2p_base_ = static_cast<std::uint16_t>(ports_.base());
  http_base_ = static_cast<std::uint16_t>(p2p_base_ + 10);
  node::TestnetOptions options;
  options.validators = n_;
  options.base_port = p2p_base_;
  options.base_http_port = http_base_;
  options.base_api_port = api_port(0);
  options.view_timeout_ms = 1000;
  options.benchmark_mode = benchmark_mode;
  std::ostringstream out;
  auto s = node::CreateTestnet(dir_.path(), options, out);
  INFO(s.ToString());
  REQUIRE(s.ok());
  auto genesis = proto::LoadGenesis(home(0) + "/genesis.bin");
  REQUIRE(genesis.has_value());
  const auto& g = std::get<ledger::Genesis>(*genesis->payload);
  chain_id_ = g.chain_id;
  for (int i = 0; i < n_; ++i) {
    validator_keys_.push_back(g.institutions[static_cast<std::size_t>(i)].validator_key);
    institution_keys_.push_back(g.institutions[static_cast<std::size_t>(i)].encryption_key);
    auto key = KeyFromHome(i, "admin.key");
    admin_keys_.push_back(key.Clone());
    admins_.push_back(crypto::MakeEd25519Signer(std::move(key)));
  }
}

crypto::SigningKey Cluster::KeyFromHome(int i, const std::string& file_name) const {
  std::string pass = ReadFile(home(i) + "/keys/passphrase");
  pass.erase(pass.find_last_not_of("\r\n") + 1);
  auto file = crypto::ReadKeyFileBytes(home(i) + "/keys/" + file_name);
  REQUIRE(file.has_value());
  auto key = crypto::DecodeSigningKeyFile(*file, pass);
  REQUIRE(key.has_value());
  return std::move(*key);
}

std::unique_ptr<crypto::Signer> Cluster::ValidatorSigner(int i) const {
  return crypto::MakeEd25519Signer(KeyFromHome(i, "validator.key"));
}

std::unique_ptr<cli::ApiClient> Cluster::Client(int via, const crypto::SigningKey& key) const {
  cli::ClientOptions o;
  o.address = "127.0.0.1:" + std::to_string(api_port(via));
  o.chain_id = chain_id_;
  auto client = cli::ApiClient::Connect(o, crypto::MakeEd25519Signer(key.Clone()));
  REQUIRE(client.has_value());
  return std::move(*client);
}

Cluster::~Cluster() {
  for (auto& [i, pid] : pids_) {
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
  }
}

std::string Cluster::home(int i) const {
  return (dir_.path() / ("node" + std::to_string(i))).string();
}

long long Cluster::Metric(int i, const std::string& name) const {
  auto metrics = HttpCall(http_port(i), "GET", "/metrics");
  std::smatch m;
  if (!metrics || !std::regex_search(metrics->body, m, std::regex("\n" + name + " (\\d+)"))) {
    return -1;
  }
  return std::stoll(m[1]);
}

std::string Cluster::Log(int i) const { return ReadFile(home(i) + ".log"); }

void Cluster::Start(int i) {
  REQUIRE_FALSE(Running(i));
  const std::string log = home(i) + ".log";
  const std::string h = home(i);
  const char* level = std::getenv("ERTR_TEST_LOG_LEVEL");
  const pid_t pid =
      SpawnLogged(ERTRD, {"start", "--home", h, "--log-level", level ? level : "info"}, log);
  REQUIRE(pid > 0);
  pids_[i] = pid;
}

void Cluster::EditConfig(int i, const std::string& from, const std::string& to) {
  const std::string path = home(i) + "/config.toml";
  std::string text = ReadFile(path);
  const auto at = text.find(from);
  INFO(text);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  std::ofstream(path, std::ios::trunc) << text;
}

void Cluster::StartAll() {
  for (int i = 0; i < n_; ++i) Start(i);
  const bool up = WaitFor([&] {
    for (int i = 0; i < n_; ++i) {
      auto s = Status(i);
      if (!s || s->peers + 1 < static_cast<std::uint64_t>(n_)) return false;
    }
    // And each node's gRPC API answers a signed call (a first call racing the server's start
    // was refused once with "Socket closed").
    for (int i = 0; i < n_; ++i) {
      std::ifstream config(home(i) + "/config.toml");
      std::stringstream text;
      text << config.rdbuf();
      if (text.str().find("tls_cert_file") != std::string::npos) continue;  // the test dials it
      auto client = Client(i, admin_key(i));
      if (!client || !client->GetStatus()) return false;
    }
    return true;
  });
  if (!up) {
    std::string logs;
    for (int i = 0; i < n_; ++i) logs += "node " + std::to_string(i) + ":\n" + Log(i);
    FAIL("the network did not connect:\n" << logs);
  }
}

void Cluster::Kill(int i) {
  auto it = pids_.find(i);
  REQUIRE(it != pids_.end());
  ::kill(it->second, SIGKILL);
  int status = 0;
  ::waitpid(it->second, &status, 0);
  pids_.erase(it);
}

void Cluster::Terminate(int i) {
  auto it = pids_.find(i);
  REQUIRE(it != pids_.end());
  ::kill(it->second, SIGTERM);
  int status = 0;
  ::waitpid(it->second, &status, 0);
  pids_.erase(it);
  INFO(Log(i));
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

int Cluster::WaitExit(int i, int seconds) {
  auto it = pids_.find(i);
  REQUIRE(it != pids_.end());
  const pid_t pid = it->second;
  int status = 0;
  const bool exited = WaitFor([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, seconds);
  pids_.erase(it);
  if (!exited) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void Cluster::WipeData(int i) {
  REQUIRE_FALSE(Running(i));
  std::filesystem::remove_all(home(i) + "/data");
}

std::optional<NodeStatus> Cluster::Status(int i) const {
  auto r = HttpCall(http_port(i), "GET", "/v1/status");
  if (!r || r->status != 200) return std::nullopt;
  return NodeStatus{JsonNumber(r->body, "height"), JsonNumber(r->body, "view"),
                    JsonString(r->body, "state_root"), JsonNumber(r->body, "peers_connected")};
}

bool Cluster::WaitFor(const std::function<bool()>& pred, int seconds) {
  return WaitUntil(pred, seconds);
}

bool Cluster::Converged(std::uint64_t height) const {
  std::optional<NodeStatus> first;
  for (const auto& [i, pid] : pids_) {
    auto s = Status(i);
    if (!s || s->height < height) return false;
    if (!first) {
      first = s;
    } else if (s->height != first->height || s->state_root != first->state_root) {
      return false;
    }
  }
  return first.has_value();
}

ledger::RegisterUser Cluster::NewPhysician(int inst) {
  auto key = crypto::SigningKey::Generate();
  const std::string id = std::string("hosp-") + static_cast<char>('a' + inst);
  return ledger::RegisterUser{id, key.public_key(), ledger::Role::kPhysician,
                              "md-" + key.public_key().ShortHex()};
}

Result<std::string> Cluster::Submit(int via, int inst, const ledger::Payload& payload) {
  return SubmitAs(via, *admins_[static_cast<std::size_t>(inst)], payload);
}

Result<std::string> Cluster::SubmitAs(int via, const crypto::Signer& signer,
                                      const ledger::Payload& payload) {
  auto msg = cli::SignTransaction(chain_id_, signer, payload);
  REQUIRE(msg.has_value());
  ERTR_ASSIGN_OR_RETURN(auto r, Client(via, admin_key(0))->SubmitSigned(*msg, false));
  return r.tx_id.ToHex();
}

std::string Cluster::Outcome(int i, const std::string& tx_id) const {
  auto id = crypto::Digest::FromHex(tx_id, "tx_id");
  if (!id) return "";
  auto r = Client(i, admin_key(0))->GetTransaction(*id);
  if (!r) return "";
  switch (r->status()) {
    case ertr::v1::TRANSACTION_STATUS_PENDING:
      return "pending";
    case ertr::v1::TRANSACTION_STATUS_ACCEPTED:
      return "accepted";
    case ertr::v1::TRANSACTION_STATUS_REJECTED:
      return "rejected:" + r->reject_reason();
    default:
      return "";
  }
}

}  // namespace ertr::testing
