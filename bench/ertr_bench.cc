// ertr-bench: load through the real integrator API on a local network of real ertrd processes
// (issue 8). It creates a testnet in a temporary directory, starts the validators, registers one
// integrator per hospital and a patient, then runs C concurrent closed-loop clients, each
// submitting records of the given size (upload, sign, submit, wait for commit) through its
// hospital's API. It reports committed records/s, commit latency percentiles, CPU seconds and
// peak RSS per validator, and bytes replicated; --csv appends one line per run.
//
// This is a first version: closed loop only (no fixed offered rate yet), and every client waits
// for its own record's commit. Numbers go to docs/benchmarks.md, never into tests.

#include <signal.h>
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
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include "cli/api_client.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/secure_buffer.h"
#include "proto/ledger_codec.h"

namespace {

namespace fs = std::filesystem;
using namespace ertr;

std::string Slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Proc {
  double cpu_seconds = 0;
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
  }
  return p;
}

std::unique_ptr<crypto::Signer> LoadKey(const fs::path& file, const fs::path& passfile) {
  std::string pass = Slurp(passfile);
  pass.erase(pass.find_last_not_of("\r\n") + 1);
  auto bytes = crypto::ReadKeyFileBytes(file);
  if (!bytes) return nullptr;
  auto key = crypto::DecodeSigningKeyFile(*bytes, pass);
  if (!key) return nullptr;
  return crypto::MakeEd25519Signer(std::move(*key));
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  return v[i];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ertr-bench - load a local ertrchain network through the integrator API"};
  std::string ertrd, csv;
  int validators = 4, concurrency = 8, seconds = 20;
  std::uint64_t size = 2048;
  app.add_option("--ertrd", ertrd, "Path of the ertrd binary")->required();
  app.add_option("--validators", validators, "Hospitals (validators)")->capture_default_str();
  app.add_option("--concurrency", concurrency, "Concurrent closed-loop clients")
      ->capture_default_str();
  app.add_option("--size", size, "Record size in bytes")->capture_default_str();
  app.add_option("--seconds", seconds, "Measured duration")->capture_default_str();
  app.add_option("--csv", csv, "Append a CSV line with the results to this file");
  int pipeline_window = 0;
  app.add_option("--pipeline-window", pipeline_window,
                 "Set consensus.pipeline_window in every node's config (default: keep)");
  CLI11_PARSE(app, argc, argv);
  if (!crypto::Init().ok()) return 1;

  const fs::path dir = fs::temp_directory_path() / ("ertr-bench-" + std::to_string(::getpid()));
  std::random_device rd;
  const int base = 21000 + static_cast<int>(rd() % 300) * 30;
  {
    const std::string cmd = ertrd + " testnet --dir " + dir.string() + " --validators " +
                            std::to_string(validators) + " --base-port " + std::to_string(base) +
                            " --base-http-port " + std::to_string(base + 10) + " --base-api-port " +
                            std::to_string(base + 20) + " >/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::cerr << "ertr-bench: ertrd testnet failed\n";
      return 1;
    }
  }
  if (pipeline_window > 0) {
    for (int i = 0; i < validators; ++i) {
      const fs::path cfg = dir / ("node" + std::to_string(i)) / "config.toml";
      std::string text = Slurp(cfg);
      const auto at = text.find("pipeline_window = ");
      if (at == std::string::npos) {
        std::cerr << "ertr-bench: " << cfg << " has no pipeline_window line\n";
        return 1;
      }
      text.replace(at, text.find('\n', at) - at,
                   "pipeline_window = " + std::to_string(pipeline_window));
      std::ofstream(cfg, std::ios::trunc) << text;
    }
  }
  std::vector<pid_t> pids;
  for (int i = 0; i < validators; ++i) {
    const fs::path home = dir / ("node" + std::to_string(i));
    pid_t pid = ::fork();
    if (pid == 0) {
      std::string pass = Slurp(home / "keys" / "passphrase");
      pass.erase(pass.find_last_not_of("\r\n") + 1);
      ::setenv("ERTR_PASSPHRASE", pass.c_str(), 1);
      FILE* f = std::fopen((home.string() + ".log").c_str(), "a");
      if (f != nullptr) {
        ::dup2(fileno(f), 1);
        ::dup2(fileno(f), 2);
      }
      ::execl(ertrd.c_str(), ertrd.c_str(), "start", "--home", home.c_str(), "--log-level", "warn",
              static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    pids.push_back(pid);
  }
  auto stop = [&] {
    for (pid_t p : pids) ::kill(p, SIGTERM);
    for (pid_t p : pids) ::waitpid(p, nullptr, 0);
    fs::remove_all(dir);
  };

  // The chain id, and clients: each hospital's admin registers an integrator there.
  auto genesis = proto::DecodeTransaction(AsBytes(Slurp(dir / "node0" / "genesis.bin")));
  const std::string chain_id = std::get<ledger::Genesis>(*genesis->payload).chain_id;
  auto client_for = [&](int i, std::unique_ptr<crypto::Signer> signer) {
    cli::ClientOptions o;
    o.address = "127.0.0.1:" + std::to_string(base + 20 + i);
    o.chain_id = chain_id;
    return std::move(*cli::ApiClient::Connect(o, std::move(signer)));
  };
  std::vector<std::unique_ptr<cli::ApiClient>> admins;
  for (int i = 0; i < validators; ++i) {
    const fs::path keys = dir / ("node" + std::to_string(i)) / "keys";
    admins.push_back(client_for(i, LoadKey(keys / "admin.key", keys / "passphrase")));
  }
  for (int tries = 0; !admins[0]->GetStatus() || admins[0]->GetStatus()->peers_size() == 0 ||
                      [&] {
                        auto s = admins[0]->GetStatus();
                        int up = 0;
                        for (const auto& p : s->peers()) up += p.connected() ? 1 : 0;
                        return up + 1 < validators;
                      }();
       ++tries) {
    if (tries > 300) {
      std::cerr << "ertr-bench: the network did not connect\n";
      stop();
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  const auto patient = crypto::RandomNonZeroId<ledger::Pseudonym>();
  if (!admins[0]->Submit(ledger::RegisterPatient{patient, "hosp-a", {}})) {
    std::cerr << "ertr-bench: registering the patient failed\n";
    stop();
    return 1;
  }
  std::vector<crypto::SigningKey> integrators;
  for (int i = 0; i < validators; ++i) {
    integrators.push_back(crypto::SigningKey::Generate());
    auto r = admins[static_cast<std::size_t>(i)]->Submit(ledger::RegisterUser{
        std::string("hosp-") + static_cast<char>('a' + i), integrators.back().public_key(),
        ledger::Role::kIntegrator, "bench-" + std::to_string(i)});
    if (!r) {
      std::cerr << "ertr-bench: registering an integrator failed: " << r.error().ToString() << "\n";
      stop();
      return 1;
    }
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // every node applied them

  std::vector<Proc> before;
  for (pid_t p : pids) before.push_back(ReadProc(p));
  std::mutex mu;
  std::vector<double> latencies_ms;
  std::atomic<std::uint64_t> errors{0};
  std::string first_error;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + std::chrono::seconds(seconds);
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      const int via = t % validators;
      auto client = client_for(
          via, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(via)].Clone()));
      Bytes payload(size);
      crypto::RandomBytes(payload);
      const std::string data(AsStringView(payload));
      while (std::chrono::steady_clock::now() < end) {
        std::istringstream in(data);
        const auto t0 = std::chrono::steady_clock::now();
        auto r =
            client->SubmitRecord(patient, ledger::RecordKind::kRtBeamsTreatmentRecord, in, size);
        const double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0)
                .count();
        std::lock_guard lock(mu);
        if (r) {
          latencies_ms.push_back(ms);
        } else {
          ++errors;
          if (first_error.empty()) first_error = r.error().ToString();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::vector<Proc> after;
  for (pid_t p : pids) after.push_back(ReadProc(p));
  stop();

  const double rate = static_cast<double>(latencies_ms.size()) / elapsed;
  double cpu = 0;
  std::uint64_t peak = 0;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    cpu += after[i].cpu_seconds - before[i].cpu_seconds;
    peak = std::max(peak, after[i].peak_rss_kb);
  }
  const double cpu_per_record_ms =
      latencies_ms.empty()
          ? 0
          : 1000 * cpu / static_cast<double>(latencies_ms.size()) / static_cast<double>(validators);
  std::cout << std::fixed << std::setprecision(1) << "validators " << validators << "  clients "
            << concurrency << "  record " << size << " B  measured " << elapsed << " s\n"
            << "committed records/s  " << rate << "  (" << latencies_ms.size() << " records, "
            << errors << " errors)\n"
            << "commit latency ms    p50 " << Percentile(latencies_ms, 0.50) << "  p95 "
            << Percentile(latencies_ms, 0.95) << "  p99 " << Percentile(latencies_ms, 0.99) << "\n"
            << std::setprecision(3) << "validator CPU ms per record (mean per validator) "
            << cpu_per_record_ms << "\n"
            << "peak RSS of any validator  " << peak / 1024 << " MiB\n";
  if (!first_error.empty()) std::cout << "first error: " << first_error << "\n";
  if (!csv.empty()) {
    const bool fresh = !fs::exists(csv);
    std::ofstream f(csv, std::ios::app);
    if (fresh) {
      f << "validators,clients,record_bytes,seconds,records,errors,records_per_s,p50_ms,p95_ms,"
           "p99_ms,cpu_ms_per_record_per_validator,peak_rss_mib\n";
    }
    f << validators << "," << concurrency << "," << size << "," << elapsed << ","
      << latencies_ms.size() << "," << errors << "," << rate << ","
      << Percentile(latencies_ms, 0.50) << "," << Percentile(latencies_ms, 0.95) << ","
      << Percentile(latencies_ms, 0.99) << "," << cpu_per_record_ms << "," << peak / 1024 << "\n";
  }
  return errors > 0 && latencies_ms.empty() ? 1 : 0;
}
