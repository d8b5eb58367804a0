#include "tests/support/local_network.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "crypto/key_file.h"
#include "crypto/secure_buffer.h"
#include "proto/ledger_codec.h"
#include "tests/support/spawn.h"

namespace ertr::testing {

namespace fs = std::filesystem;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{2, 0};  // a stopped (SIGSTOP) node must not hang the caller
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET " + path + " HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[16384];
      for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) out.append(buf, buf + n);
    }
  }
  ::close(fd);
  return out;
}

double Metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

std::string JsonField(const std::string& text, const std::string& name) {
  const std::string key = "\"" + name + "\":";
  auto at = text.find(key);
  if (at == std::string::npos) return {};
  at += key.size();
  if (at < text.size() && text[at] == '"') {
    const auto end = text.find('"', at + 1);
    return end == std::string::npos ? std::string() : text.substr(at + 1, end - at - 1);
  }
  const auto end = text.find_first_of(",}", at);
  return text.substr(at, end == std::string::npos ? std::string::npos : end - at);
}

ProcStats ReadProc(pid_t pid) {
  ProcStats p;
  const std::string stat = Slurp("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close != std::string::npos) {
    std::istringstream f(stat.substr(close + 2));
    std::string field;
    unsigned long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && f >> field; ++i) {
      if (i == 14) utime = std::stoul(field);
      if (i == 15) stime = std::stoul(field);
    }
    p.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  }
  std::istringstream status(Slurp("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) p.peak_rss_kb = std::stoull(line.substr(6));
    if (line.rfind("VmRSS:", 0) == 0) p.rss_kb = std::stoull(line.substr(6));
  }
  return p;
}

LocalNetwork::LocalNetwork(LocalNetworkOptions options) : options_(std::move(options)) {}

LocalNetwork::~LocalNetwork() { Stop(); }

fs::path LocalNetwork::Home(int i) const { return dir_ / ("node" + std::to_string(i)); }

bool LocalNetwork::Create() {
  std::random_device rd;
  dir_ = fs::temp_directory_path() /
         ("ertr-net-" + std::to_string(::getpid()) + "-" + std::to_string(rd() % 100000));
  base_ = ports_.base();
  if (base_ == 0) {
    std::cerr << "local network: no free block of local ports\n";
    return false;
  }
  std::string cmd = options_.ertrd + " testnet --dir " + dir_.string() + " --validators " +
                    std::to_string(options_.validators) + " --base-port " + std::to_string(base_) +
                    " --base-http-port " + std::to_string(base_ + 10) + " --base-api-port " +
                    std::to_string(base_ + 20);
  if (options_.view_timeout_ms > 0) {
    cmd += " --view-timeout-ms " + std::to_string(options_.view_timeout_ms);
  }
  if (options_.benchmark_mode) cmd += " --benchmark-mode";
  if (options_.max_block_transactions > 0) {
    cmd += " --max-block-transactions " + std::to_string(options_.max_block_transactions);
  }
  cmd += " >/dev/null";
  if (std::system(cmd.c_str()) != 0) {
    std::cerr << "local network: `ertrd testnet` failed\n";
    return false;
  }
  for (int i = 0; i < options_.validators; ++i) {
    const fs::path cfg = Home(i) / "config.toml";
    std::string text = Slurp(cfg);
    for (const auto& [key, value] : options_.consensus) {
      const auto at = text.find("\n" + key + " = ");
      if (at == std::string::npos) {
        std::cerr << "local network: " << cfg << " has no " << key << " line\n";
        return false;
      }
      text.replace(at + 1, text.find('\n', at + 1) - at - 1, key + " = " + value);
    }
    std::ofstream(cfg, std::ios::trunc) << text;
  }
  auto genesis = proto::DecodeTransaction(AsBytes(Slurp(Home(0) / "genesis.bin")));
  if (!genesis) {
    std::cerr << "local network: the testnet's genesis.bin does not decode\n";
    return false;
  }
  chain_id_ = std::get<ledger::Genesis>(*genesis->payload).chain_id;
  pids_.assign(static_cast<std::size_t>(options_.validators), -1);
  return true;
}

bool LocalNetwork::RoutePeer(int i, int j, int port) {
  const fs::path cfg = Home(i) / "config.toml";
  std::string text = Slurp(cfg);
  const std::string from = "address = \"127.0.0.1:" + std::to_string(p2p_port(j)) + "\"";
  const auto at = text.find(from);
  if (at == std::string::npos) return false;
  text.replace(at, from.size(), "address = \"127.0.0.1:" + std::to_string(port) + "\"");
  std::ofstream(cfg, std::ios::trunc) << text;
  return true;
}

void LocalNetwork::Start(int i) {
  const fs::path home = Home(i);
  std::string pass = Slurp(home / "keys" / "passphrase");
  pass.erase(pass.find_last_not_of("\r\n") + 1);
  std::vector<std::pair<std::string, std::string>> env{{"ERTR_PASSPHRASE", pass}};
  if (!options_.faultfs.empty()) {
    env.emplace_back("LD_PRELOAD", fs::absolute(options_.faultfs).string());
    env.emplace_back("ERTR_FAULTFS_CONTROL", home.string() + ".faultfs");
    // The library compares the paths /proc/self/fd shows: canonical ones.
    env.emplace_back("ERTR_FAULTFS_PREFIX", fs::canonical(home).string() + "/");
  }
  const pid_t pid = SpawnLogged(
      options_.ertrd, {"start", "--home", home.string(), "--log-level", options_.log_level},
      home.string() + ".log", env);
  if (pid < 0) {
    std::cerr << "local network: cannot start node" << i << ": " << std::strerror(errno) << "\n";
  }
  pids_[static_cast<std::size_t>(i)] = pid;
}

void LocalNetwork::StartAll() {
  for (int i = 0; i < options_.validators; ++i) Start(i);
}

void LocalNetwork::Signal(int i, int sig) {
  const pid_t p = pids_[static_cast<std::size_t>(i)];
  if (p <= 0) return;
  ::kill(p, sig);
  if (sig == SIGKILL || sig == SIGTERM) {
    if (sig == SIGTERM) ::kill(p, SIGCONT);  // a stopped process must run to exit
    ::waitpid(p, nullptr, 0);
    pids_[static_cast<std::size_t>(i)] = -1;
  }
}

std::optional<int> LocalNetwork::Reap(int i) {
  const pid_t p = pids_[static_cast<std::size_t>(i)];
  int status = 0;
  if (p <= 0 || ::waitpid(p, &status, WNOHANG) != p) return std::nullopt;
  pids_[static_cast<std::size_t>(i)] = -1;
  return status;
}

void LocalNetwork::SetStorageFault(int i, const std::string& fault) const {
  std::ofstream(Home(i).string() + ".faultfs", std::ios::trunc) << fault;
  // faultfs rereads the file at the first storage call 20 ms after its last read; a thread that
  // read the old content just before may publish it a little later. Past 100 ms every new call
  // sees the new fault, so callers may act on it as soon as this returns.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
}

void LocalNetwork::Wipe(int i) { fs::remove_all(Home(i) / "data"); }

void LocalNetwork::Stop() {
  for (int i = 0; i < static_cast<int>(pids_.size()); ++i) Signal(i, SIGTERM);
  pids_.assign(pids_.size(), -1);
  if (!dir_.empty() && !keep_) fs::remove_all(dir_);
  if (!keep_) dir_.clear();
}

std::unique_ptr<cli::ApiClient> LocalNetwork::Client(int i,
                                                     std::unique_ptr<crypto::Signer> signer) const {
  cli::ClientOptions c;
  c.address = "127.0.0.1:" + std::to_string(api_port(i));
  c.chain_id = chain_id_;
  auto client = cli::ApiClient::Connect(c, std::move(signer));
  return client ? std::move(*client) : nullptr;
}

std::unique_ptr<crypto::Signer> LocalNetwork::AdminKey(int i) const {
  const fs::path keys = Home(i) / "keys";
  std::string pass = Slurp(keys / "passphrase");
  pass.erase(pass.find_last_not_of("\r\n") + 1);
  auto bytes = crypto::ReadKeyFileBytes(keys / "admin.key");
  if (!bytes) return nullptr;
  auto key = crypto::DecodeSigningKeyFile(*bytes, pass);
  if (!key) return nullptr;
  return crypto::MakeEd25519Signer(std::move(*key));
}

double LocalNetwork::Height(int i) const {
  const std::string m = HttpGet(http_port(i), "/metrics");
  return m.empty() ? -1 : Metric(m, "ertr_height");
}

double LocalNetwork::NodeMetric(int i, const std::string& name) const {
  return Metric(HttpGet(http_port(i), "/metrics"), name);
}

double LocalNetwork::SumMetric(const std::string& name) const {
  double sum = 0;
  for (int i = 0; i < options_.validators; ++i) {
    if (Running(i)) sum += NodeMetric(i, name);
  }
  return sum;
}

Status LocalNetwork::RegisterLoadUsers(ledger::Pseudonym& patient,
                                       std::vector<crypto::SigningKey>& integrators) const {
  std::vector<std::unique_ptr<cli::ApiClient>> admins;
  for (int i = 0; i < options_.validators; ++i) {
    admins.push_back(Client(i, AdminKey(i)));
    if (!admins.back()) return Status::Unavailable("cannot connect to node " + std::to_string(i));
  }
  patient = crypto::RandomNonZeroId<ledger::Pseudonym>();
  if (auto r = admins[0]->Submit(ledger::RegisterPatient{patient, "hosp-a", {}}); !r) {
    return r.error().WithContext("registering the patient");
  }
  integrators.clear();
  for (int i = 0; i < options_.validators; ++i) {
    integrators.push_back(crypto::SigningKey::Generate());
    auto r = admins[static_cast<std::size_t>(i)]->Submit(ledger::RegisterUser{
        std::string("hosp-") + static_cast<char>('a' + i), integrators.back().public_key(),
        ledger::Role::kIntegrator, "load-" + std::to_string(i)});
    if (!r) return r.error().WithContext("registering an integrator");
  }
  // Every node applied them when every node reaches the height of the last one.
  const double target = Height(options_.validators - 1);
  for (int tries = 0; tries < 100; ++tries) {
    bool all = true;
    for (int i = 0; i < options_.validators; ++i) all = all && Height(i) >= target;
    if (all) return Status::Ok();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return Status::Unavailable("the registrations did not reach every node");
}

bool LocalNetwork::WaitConnected(int seconds) const {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    bool all = true;
    for (int i = 0; i < options_.validators && all; ++i) {
      if (!Running(i)) continue;
      all = NodeMetric(i, "ertr_peers_connected") + 1 >= options_.validators;
    }
    if (all) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return false;
}

}  // namespace ertr::testing
