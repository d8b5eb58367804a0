// ertr-bench: load through the real integrator API on a local network of real ertrd processes
// (issue 8; docs/benchmarks.md says how each figure there was made).
//
// It creates a testnet in a temporary directory, starts the validators, registers one integrator
// per hospital and a patient, then runs one of these modes:
//   closed   C clients, each uploading a record, signing and submitting it, and waiting for its
//            commit before the next (--records stops after N records instead of --seconds);
//   open     records are offered at a fixed --rate (records/s) by up to C clients; latency is
//            measured from each record's scheduled time, so a backlog shows up as latency
//            (no coordinated omission);
//   catchup  closed load for --seconds, then the last node's data directory is wiped and the
//            node restarted: the time until it holds every block gives transactions/s;
//   restart  closed load; after a third of --seconds the last node is killed with SIGKILL and
//            started again at once: the time from the kill to its first new commit is reported.
// Every mode reports committed records/s, commit latency percentiles, CPU seconds and peak RSS
// per validator (and RSS growth over the run), and bytes replicated between nodes; --csv appends
// one line per run. Payloads larger than 1 MiB are generated while streaming, never held whole.
//
// Numbers go to docs/benchmarks.md (bench/run-report), never into tests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <random>
#include <sstream>
#include <streambuf>
#include <thread>

#include "cli/api_client.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/secure_buffer.h"
#include "proto/ledger_codec.h"

namespace {

namespace fs = std::filesystem;
using namespace ertr;
using Clock = std::chrono::steady_clock;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Proc {
  double cpu_seconds = 0;
  std::uint64_t rss_kb = 0;
  std::uint64_t peak_rss_kb = 0;
};

Proc ReadProc(pid_t pid) {
  Proc p;
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

// GET http://127.0.0.1:port/path over a plain socket (the node's read-only HTTP endpoint).
std::string HttpGet(int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
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

// One Prometheus value (0 if absent).
double Metric(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + " ", 0) == 0) return std::stod(line.substr(name.size() + 1));
  }
  return 0;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  return v[i];
}

// An endless-looking stream of `size` bytes repeating one random MiB: the node encrypts it with
// a fresh key, so the ciphertexts still differ.
class GeneratedStream : public std::streambuf {
 public:
  GeneratedStream(const std::string& block, std::uint64_t size) : block_(block), left_(size) {}

 protected:
  int_type underflow() override {
    if (left_ == 0) return traits_type::eof();
    const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(left_, block_.size()));
    left_ -= n;
    char* p = const_cast<char*>(block_.data());
    setg(p, p, p + n);
    return traits_type::to_int_type(*p);
  }

 private:
  const std::string& block_;
  std::uint64_t left_;
};

struct Options {
  std::string ertrd, csv, mode = "closed";
  int validators = 4, concurrency = 8, seconds = 20, pipeline_window = 0;
  std::uint64_t size = 2048, records = 0;
  double rate = 0;
};

class Network {
 public:
  explicit Network(const Options& o) : o_(o) {}
  ~Network() { Stop(); }

  bool Create() {
    dir_ = fs::temp_directory_path() / ("ertr-bench-" + std::to_string(::getpid()));
    std::random_device rd;
    base_ = 21000 + static_cast<int>(rd() % 300) * 30;
    const std::string cmd = o_.ertrd + " testnet --dir " + dir_.string() + " --validators " +
                            std::to_string(o_.validators) + " --base-port " +
                            std::to_string(base_) + " --base-http-port " +
                            std::to_string(base_ + 10) + " --base-api-port " +
                            std::to_string(base_ + 20) + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) return Fail("ertrd testnet failed");
    if (o_.pipeline_window > 0) {
      for (int i = 0; i < o_.validators; ++i) {
        const fs::path cfg = Home(i) / "config.toml";
        std::string text = Slurp(cfg);
        const auto at = text.find("pipeline_window = ");
        if (at == std::string::npos) return Fail(cfg.string() + " has no pipeline_window line");
        text.replace(at, text.find('\n', at) - at,
                     "pipeline_window = " + std::to_string(o_.pipeline_window));
        std::ofstream(cfg, std::ios::trunc) << text;
      }
    }
    auto genesis = proto::DecodeTransaction(AsBytes(Slurp(Home(0) / "genesis.bin")));
    if (!genesis) return Fail("the testnet's genesis.bin does not decode");
    chain_id_ = std::get<ledger::Genesis>(*genesis->payload).chain_id;
    pids_.assign(static_cast<std::size_t>(o_.validators), -1);
    for (int i = 0; i < o_.validators; ++i) Start(i);
    return true;
  }

  fs::path Home(int i) const { return dir_ / ("node" + std::to_string(i)); }
  int http_port(int i) const { return base_ + 10 + i; }
  pid_t pid(int i) const { return pids_[static_cast<std::size_t>(i)]; }

  void Start(int i) {
    const fs::path home = Home(i);
    std::string pass = Slurp(home / "keys" / "passphrase");
    pass.erase(pass.find_last_not_of("\r\n") + 1);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("ERTR_PASSPHRASE", pass.c_str(), 1);
      FILE* f = std::fopen((home.string() + ".log").c_str(), "a");
      if (f != nullptr) {
        ::dup2(fileno(f), 1);
        ::dup2(fileno(f), 2);
      }
      ::execl(o_.ertrd.c_str(), o_.ertrd.c_str(), "start", "--home", home.c_str(), "--log-level",
              "warn", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    pids_[static_cast<std::size_t>(i)] = pid;
  }

  void Kill(int i, int sig) {
    const pid_t p = pids_[static_cast<std::size_t>(i)];
    if (p <= 0) return;
    ::kill(p, sig);
    ::waitpid(p, nullptr, 0);
    pids_[static_cast<std::size_t>(i)] = -1;
  }

  void Stop() {
    for (int i = 0; i < static_cast<int>(pids_.size()); ++i) Kill(i, SIGTERM);
    pids_.clear();
    if (!dir_.empty()) fs::remove_all(dir_);
    dir_.clear();
  }

  std::unique_ptr<cli::ApiClient> Client(int i, std::unique_ptr<crypto::Signer> signer) const {
    cli::ClientOptions c;
    c.address = "127.0.0.1:" + std::to_string(base_ + 20 + i);
    c.chain_id = chain_id_;
    auto client = cli::ApiClient::Connect(c, std::move(signer));
    return client ? std::move(*client) : nullptr;
  }

  std::unique_ptr<crypto::Signer> AdminKey(int i) const {
    const fs::path keys = Home(i) / "keys";
    std::string pass = Slurp(keys / "passphrase");
    pass.erase(pass.find_last_not_of("\r\n") + 1);
    auto bytes = crypto::ReadKeyFileBytes(keys / "admin.key");
    if (!bytes) return nullptr;
    auto key = crypto::DecodeSigningKeyFile(*bytes, pass);
    if (!key) return nullptr;
    return crypto::MakeEd25519Signer(std::move(*key));
  }

  // Sum of a metric over all running nodes.
  double SumMetric(const std::string& name) const {
    double sum = 0;
    for (int i = 0; i < o_.validators; ++i) {
      if (pid(i) > 0) sum += Metric(HttpGet(http_port(i), "/metrics"), name);
    }
    return sum;
  }
  double NodeMetric(int i, const std::string& name) const {
    return Metric(HttpGet(http_port(i), "/metrics"), name);
  }

  bool Fail(const std::string& why) {
    std::cerr << "ertr-bench: " << why << "\n";
    return false;
  }

 private:
  const Options& o_;
  fs::path dir_;
  int base_ = 0;
  std::string chain_id_;
  std::vector<pid_t> pids_;
};

struct Load {
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::uint64_t errors = 0;
  std::string first_error;
  double elapsed_s = 0;
};

// Runs the closed or open load until `end` (or --records records) and fills `load`.
void RunLoad(const Options& o, Network& net, const std::vector<crypto::SigningKey>& integrators,
             const ledger::Pseudonym& patient, Clock::time_point end, Load& load) {
  std::string block(static_cast<std::size_t>(std::min<std::uint64_t>(o.size, 1u << 20)), '\0');
  crypto::RandomBytes(MutableByteSpan(reinterpret_cast<std::uint8_t*>(block.data()), block.size()));
  const bool open = o.mode == "open";
  std::atomic<std::uint64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < o.concurrency; ++t) {
    threads.emplace_back([&, t] {
      const int via = t % o.validators;
      auto client = net.Client(
          via, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(via)].Clone()));
      if (!client) return;
      for (;;) {
        const std::uint64_t k = next++;
        if (o.records != 0 && k >= o.records) return;
        Clock::time_point t0 = Clock::now();
        if (open) {
          t0 = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(static_cast<double>(k) / o.rate));
          if (t0 >= end) return;
          std::this_thread::sleep_until(t0);
        } else if (t0 >= end) {
          return;
        }
        GeneratedStream buf(block, o.size);
        std::istream in(&buf);
        auto r =
            client->SubmitRecord(patient, ledger::RecordKind::kRtBeamsTreatmentRecord, in, o.size);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        std::lock_guard lock(load.mu);
        if (r) {
          load.latencies_ms.push_back(ms);
        } else {
          ++load.errors;
          if (load.first_error.empty()) load.first_error = r.error().ToString();
          // Like an integrator, wait a little before trying again (its node may be down).
          load.mu.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          load.mu.lock();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  load.elapsed_s = Seconds(Clock::now() - start);
}

// Polls node i's height (HTTP metrics) until `done(height)` or the timeout; seconds taken, or -1.
double WaitFor(const Network& net, int i, const std::function<bool(double)>& done,
               Clock::time_point since, std::chrono::seconds timeout) {
  while (Clock::now() - since < timeout) {
    const std::string m = HttpGet(net.http_port(i), "/metrics");
    if (!m.empty() && done(Metric(m, "ertr_height"))) return Seconds(Clock::now() - since);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ertr-bench - load a local ertrchain network through the integrator API"};
  Options o;
  app.add_option("--ertrd", o.ertrd, "Path of the ertrd binary")->required();
  app.add_option("--mode", o.mode, "closed, open, catchup or restart")
      ->check(CLI::IsMember({"closed", "open", "catchup", "restart"}))
      ->capture_default_str();
  app.add_option("--validators", o.validators, "Hospitals (validators)")->capture_default_str();
  app.add_option("--concurrency", o.concurrency, "Clients (open loop: most records in flight)")
      ->capture_default_str();
  app.add_option("--rate", o.rate, "Open loop: offered records per second");
  app.add_option("--size", o.size, "Record size in bytes")->capture_default_str();
  app.add_option("--seconds", o.seconds, "Measured duration")->capture_default_str();
  app.add_option("--records", o.records, "Stop after this many records (closed loop)");
  app.add_option("--pipeline-window", o.pipeline_window,
                 "Set consensus.pipeline_window in every node's config (default: keep)");
  app.add_option("--csv", o.csv, "Append a CSV line with the results to this file");
  CLI11_PARSE(app, argc, argv);
  if (o.mode == "open" && o.rate <= 0) {
    std::cerr << "ertr-bench: --mode open needs --rate (records per second offered)\n";
    return 2;
  }
  if (!crypto::Init().ok()) return 1;

  Network net(o);
  if (!net.Create()) return 1;
  std::vector<std::unique_ptr<cli::ApiClient>> admins;
  for (int i = 0; i < o.validators; ++i) admins.push_back(net.Client(i, net.AdminKey(i)));
  for (int tries = 0;; ++tries) {
    auto s =
        admins[0] ? admins[0]->GetStatus() : Result<ertr::v1::NodeStatus>(Status::Unavailable(""));
    int up = 0;
    if (s) {
      for (const auto& p : s->peers()) up += p.connected() ? 1 : 0;
    }
    if (up + 1 >= o.validators) break;
    if (tries > 300) {
      net.Fail("the network did not connect");
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto patient = crypto::RandomNonZeroId<ledger::Pseudonym>();
  if (auto r = admins[0]->Submit(ledger::RegisterPatient{patient, "hosp-a", {}}); !r) {
    {
      net.Fail("registering the patient failed: " + r.error().ToString());
      return 1;
    }
  }
  std::vector<crypto::SigningKey> integrators;
  for (int i = 0; i < o.validators; ++i) {
    integrators.push_back(crypto::SigningKey::Generate());
    auto r = admins[static_cast<std::size_t>(i)]->Submit(ledger::RegisterUser{
        std::string("hosp-") + static_cast<char>('a' + i), integrators.back().public_key(),
        ledger::Role::kIntegrator, "bench-" + std::to_string(i)});
    if (!r) {
      net.Fail("registering an integrator failed: " + r.error().ToString());
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // every node applied them

  std::vector<Proc> before;
  for (int i = 0; i < o.validators; ++i) {
    // Reset each node's peak RSS (VmHWM) so that the peak below is the run's, not start-up's.
    std::ofstream("/proc/" + std::to_string(net.pid(i)) + "/clear_refs") << "5";
    before.push_back(ReadProc(net.pid(i)));
  }
  const double replicated_before = net.SumMetric("ertr_blob_bytes_received_total");
  Load load;
  const auto end = Clock::now() + std::chrono::seconds(o.seconds);
  double event_s = -1;  // catch-up or restart time
  double catchup_txs = 0;
  const int last = o.validators - 1;
  if (o.mode == "restart") {
    std::thread loader([&] { RunLoad(o, net, integrators, patient, end, load); });
    std::this_thread::sleep_for(std::chrono::seconds(o.seconds) / 3);
    const double height = net.NodeMetric(last, "ertr_height");
    const auto killed = Clock::now();
    net.Kill(last, SIGKILL);
    net.Start(last);
    event_s = WaitFor(
        net, last, [&](double h) { return h > height; }, killed, std::chrono::seconds(60));
    loader.join();
  } else {
    RunLoad(o, net, integrators, patient, end, load);
  }
  std::vector<Proc> after;
  for (int i = 0; i < o.validators; ++i) after.push_back(ReadProc(net.pid(i)));
  const double replicated = net.SumMetric("ertr_blob_bytes_received_total") - replicated_before;
  if (o.mode == "catchup") {
    const double target = net.NodeMetric(0, "ertr_height");
    catchup_txs = net.NodeMetric(0, "ertr_transactions_committed_total");
    net.Kill(last, SIGTERM);
    fs::remove_all(net.Home(last) / "data");
    const auto started = Clock::now();
    net.Start(last);
    event_s = WaitFor(
        net, last, [&](double h) { return h >= target; }, started, std::chrono::seconds(300));
  }
  net.Stop();

  const auto& lat = load.latencies_ms;
  const double rate = static_cast<double>(lat.size()) / load.elapsed_s;
  double cpu = 0;
  std::uint64_t peak = 0, growth = 0;
  for (std::size_t i = 0; i < after.size(); ++i) {
    cpu += after[i].cpu_seconds - before[i].cpu_seconds;
    peak = std::max(peak, after[i].peak_rss_kb);
    if (after[i].peak_rss_kb > before[i].rss_kb) {
      growth = std::max(growth, after[i].peak_rss_kb - before[i].rss_kb);
    }
  }
  const double cpu_ms = lat.empty() ? 0
                                    : 1000 * cpu / static_cast<double>(lat.size()) /
                                          static_cast<double>(o.validators);
  const double mb_s = rate * static_cast<double>(o.size) / 1e6;
  const double p50 = Percentile(lat, 0.50), p95 = Percentile(lat, 0.95),
               p99 = Percentile(lat, 0.99);
  std::cout << std::fixed << std::setprecision(1) << "mode " << o.mode << "  validators "
            << o.validators << "  clients " << o.concurrency << "  record " << o.size
            << " B  measured " << load.elapsed_s << " s";
  if (o.mode == "open") std::cout << "  offered " << o.rate << " records/s";
  std::cout << "\ncommitted records/s  " << rate << "  (" << lat.size() << " records, "
            << load.errors << " errors)  " << std::setprecision(2) << mb_s << " MB/s\n"
            << std::setprecision(1) << "commit latency ms    p50 " << p50 << "  p95 " << p95
            << "  p99 " << p99 << "\n"
            << std::setprecision(3) << "validator CPU ms per record (mean per validator) " << cpu_ms
            << "\n"
            << "peak RSS of any validator  " << peak / 1024
            << " MiB (largest growth during the run " << growth / 1024 << " MiB)\n"
            << "bytes replicated between nodes  " << std::setprecision(0) << replicated << "\n";
  if (o.mode == "catchup") {
    std::cout << std::setprecision(2) << "wiped node caught up with " << catchup_txs
              << " transactions in " << event_s
              << " s: " << (event_s > 0 ? catchup_txs / event_s : 0) << " transactions/s\n";
  }
  if (o.mode == "restart") {
    std::cout << std::setprecision(3) << "kill -9 to the restarted node's first new commit  "
              << event_s << " s\n";
  }
  if (!load.first_error.empty()) std::cout << "first error: " << load.first_error << "\n";
  if (!o.csv.empty()) {
    const bool fresh = !fs::exists(o.csv);
    std::ofstream f(o.csv, std::ios::app);
    if (fresh) {
      f << "mode,validators,clients,record_bytes,offered_per_s,seconds,records,errors,"
           "records_per_s,mb_per_s,p50_ms,p95_ms,p99_ms,cpu_ms_per_record_per_validator,"
           "peak_rss_mib,rss_growth_mib,bytes_replicated,event_s,catchup_tx\n";
    }
    f << o.mode << "," << o.validators << "," << o.concurrency << "," << o.size << "," << o.rate
      << "," << load.elapsed_s << "," << lat.size() << "," << load.errors << "," << rate << ","
      << mb_s << "," << p50 << "," << p95 << "," << p99 << "," << cpu_ms << "," << peak / 1024
      << "," << growth / 1024 << "," << replicated << "," << event_s << "," << catchup_txs << "\n";
  }
  if (lat.empty() || (o.mode != "closed" && o.mode != "open" && event_s < 0)) return 1;
  return 0;
}
