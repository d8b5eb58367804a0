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
//            started again at once: the time from the kill to its first new commit is reported;
//   null     consensus alone (issue 11), like libhotstuff's client: a benchmark-mode network
//            (genesis parameter; --block-size sets its max_block_transactions) and --concurrency
//            unsigned 8-byte NullOp commands in flight, sent in SubmitTransactions calls of at
//            most --call-batch commands spread over the validators. A command counts when the
//            replica it was submitted to reports it committed (durable there); its latency is its
//            call's.
// With --kill-primary (closed, open and null modes), a third into the run the current primary
// is killed with SIGKILL and not restarted: the time from the kill until its successor in the
// next view first commits a block in a later view is reported (event_s in the CSV), and the rest
// of the run goes on with one validator down.
// Every mode reports committed records/s, commit latency percentiles, CPU seconds and peak RSS
// per validator (and RSS growth over the run), and bytes replicated between nodes; --csv appends
// one line per run. Payloads larger than 1 MiB are generated while streaming, never held whole.
//
// Numbers go to docs/benchmarks.md (bench/run-report), never into tests.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
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
#include <map>
#include <mutex>
#include <numeric>
#include <random>
#include <sstream>
#include <streambuf>
#include <thread>

#include "cli/api_client.h"
#include "crypto/init.h"
#include "crypto/key_file.h"
#include "crypto/secure_buffer.h"
#include "proto/grpc_status.h"
#include "proto/ledger_codec.h"
#include "tests/support/local_network.h"

namespace {

namespace fs = std::filesystem;
using namespace ertr;
using Clock = std::chrono::steady_clock;
using testing::LocalNetwork;
using testing::ReadProc;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// CPU seconds of this process (the load generator) so far.
double SelfCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
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
  std::string ertrd, csv, mode = "closed", log_level = "warn";
  bool keep = false, kill_primary = false;
  int validators = 4, concurrency = 8, seconds = 20, pipeline_window = 0, call_batch = 100;
  int min_pipelined_batch = 0;
  int batch_wait_us = -1;  // -1: keep the node's default
  std::uint32_t block_size = 0;
  std::uint64_t size = 2048, records = 0;
  double rate = 0;
};

struct Load {
  std::mutex mu;
  std::vector<double> latencies_ms;
  // Null mode: the same latencies by the validator the call went to (which tells the caller).
  std::map<int, std::vector<double>> latencies_by_validator_ms;
  std::uint64_t errors = 0;
  std::string first_error;
  double elapsed_s = 0;
};

// A failed call (or refused transactions), with `load.mu` held: counted, its first error kept.
void CountError(Load& load, const std::string& error) {
  ++load.errors;
  if (load.first_error.empty()) load.first_error = error;
}

// After a failed call, a load thread waits a little before trying again, like an integrator
// whose node may be down. Without it, the threads calling a killed validator would fail as fast
// as they can build calls, and take the machine's CPU from the validators still running.
constexpr std::chrono::milliseconds kRetryPause{100};

// Runs the closed or open load until `end` (or --records records) and fills `load`.
void RunLoad(const Options& o, LocalNetwork& net,
             const std::vector<crypto::SigningKey>& integrators, const ledger::Pseudonym& patient,
             Clock::time_point end, Load& load) {
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
        {
          std::lock_guard lock(load.mu);
          if (r) {
            load.latencies_ms.push_back(ms);
            continue;
          }
          CountError(load, r.error().ToString());
        }
        std::this_thread::sleep_for(kRetryPause);
      }
    });
  }
  for (auto& th : threads) th.join();
  load.elapsed_s = Seconds(Clock::now() - start);
}

// Null mode: threads each keeping one SubmitTransactions call of NullOps in flight, so that
// --concurrency commands are in flight in all.
void RunNullLoad(const Options& o, LocalNetwork& net,
                 const std::vector<crypto::SigningKey>& integrators, Clock::time_point end,
                 Load& load) {
  const int per_call = std::max(1, std::min(o.call_batch, o.concurrency));
  const int calls = (o.concurrency + per_call - 1) / per_call;
  std::atomic<std::uint64_t> next{0};
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < calls; ++t) {
    const int size = std::min(per_call, o.concurrency - t * per_call);
    threads.emplace_back([&, t, size] {
      const int via = t % o.validators;
      auto client = net.Client(
          via, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(via)].Clone()));
      if (!client) return;
      // Nobody signs a NullOp; the signer field only spreads them over the mempool's
      // per-signer bound.
      ledger::TransactionHeader h;
      h.chain_id = net.chain_id();
      crypto::RandomBytes(MutableByteSpan(h.signer.data(), h.signer.size()));
      const std::string zero_signature(crypto::Signature().span().size(), '\0');
      std::vector<double> latencies;
      while (Clock::now() < end) {
        v1::SubmitTransactionsRequest req;
        req.set_wait_for_commit(true);
        for (int i = 0; i < size; ++i) {
          const std::uint64_t k = next++;
          Bytes command(8);
          for (int b = 0; b < 8; ++b) command[static_cast<std::size_t>(b)] = (k >> (8 * b)) & 0xff;
          h.nonce = k;
          auto* tx = req.add_transactions();
          tx->set_body(std::string(
              AsStringView(proto::EncodeTransactionBody(h, ledger::NullOp{std::move(command)}))));
          tx->set_signature(zero_signature);
        }
        const auto t0 = Clock::now();
        auto r = client->SubmitBatch(req);
        const double ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
        bool failed = !r;
        {
          std::lock_guard lock(load.mu);
          if (!r) {
            CountError(load, r.error().ToString());
          } else {
            for (const auto& res : r->results()) {
              if (res.status() == v1::TRANSACTION_STATUS_ACCEPTED) {
                load.latencies_ms.push_back(ms);
                load.latencies_by_validator_ms[via].push_back(ms);
              } else {
                CountError(load, res.error() + res.reject_reason());
                failed = true;
              }
            }
          }
        }
        if (failed) std::this_thread::sleep_for(kRetryPause);
      }
    });
  }
  for (auto& th : threads) th.join();
  load.elapsed_s = Seconds(Clock::now() - start);
}

// Timings every running node kept so far, summed: its disk syncs (ertr_disk_sync_seconds), and
// from admission at the node a transaction was submitted to until that node committed it
// (ertr_commit_latency_seconds): the client's latency less the API calls and the answer.
struct NodeTimings {
  double consensus_count = 0, consensus_s = 0, blobs_count = 0, blobs_s = 0;
  double commit_count = 0, commit_s = 0;
  NodeTimings operator-(const NodeTimings& o) const { return *this + o.Scaled(-1); }
  NodeTimings operator+(const NodeTimings& o) const {
    return {consensus_count + o.consensus_count, consensus_s + o.consensus_s,
            blobs_count + o.blobs_count,         blobs_s + o.blobs_s,
            commit_count + o.commit_count,       commit_s + o.commit_s};
  }
  NodeTimings Scaled(double k) const {
    return {k * consensus_count, k * consensus_s,  k * blobs_count,
            k * blobs_s,         k * commit_count, k * commit_s};
  }
};

// Summed over the running nodes, or node `i`'s alone (i >= 0).
NodeTimings ReadNodeTimings(const LocalNetwork& net, int i = -1) {
  auto m = [&](const std::string& name) {
    return i < 0 ? net.SumMetric(name) : net.NodeMetric(i, name);
  };
  return {m(R"(ertr_disk_sync_seconds_count{log="consensus"})"),
          m(R"(ertr_disk_sync_seconds_sum{log="consensus"})"),
          m(R"(ertr_disk_sync_seconds_count{log="blobs"})"),
          m(R"(ertr_disk_sync_seconds_sum{log="blobs"})"),
          m("ertr_commit_latency_seconds_count"),
          m("ertr_commit_latency_seconds_sum")};
}

// A validator killed by --kill-primary, and its figures just before: the run's totals count
// them, since the sums over running nodes no longer do.
struct KilledPrimary {
  int index = -1;
  testing::ProcStats proc;
  double replicated = 0;  // its ertr_blob_bytes_received_total
  NodeTimings timings;
};

// Seconds from `since` until done() holds (polled every 5 ms), or -1 after `timeout`.
double WaitUntil(const std::function<bool()>& done, Clock::time_point since,
                 std::chrono::seconds timeout) {
  while (Clock::now() - since < timeout) {
    if (done()) return Seconds(Clock::now() - since);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

// Polls node i's height (HTTP metrics) until `done(height)` or the timeout; seconds taken, or -1.
double WaitFor(const LocalNetwork& net, int i, const std::function<bool(double)>& done,
               Clock::time_point since, std::chrono::seconds timeout) {
  return WaitUntil(
      [&] {
        const double h = net.Height(i);
        return h >= 0 && done(h);
      },
      since, timeout);
}

// --kill-primary: a third into the run, kills the primary of the view the network is in (as
// validator 1 sees it) and returns the seconds until the next view's primary has committed a
// block in a later view (-1 if none within 60 s, or if validator 1 does not answer); `killed`
// gets the killed validator and its figures just before.
double KillPrimary(const Options& o, LocalNetwork& net, std::optional<KilledPrimary>& killed) {
  std::this_thread::sleep_for(std::chrono::milliseconds(o.seconds * 1000 / 3));
  if (net.Height(1) < 0) return -1;
  const double view = net.NodeMetric(1, "ertr_view");
  const int n = o.validators;
  const int primary = static_cast<int>(view) % n;
  const int next = (primary + 1) % n;
  killed.emplace(KilledPrimary{primary, ReadProc(net.pid(primary)),
                               net.NodeMetric(primary, "ertr_blob_bytes_received_total"),
                               ReadNodeTimings(net, primary)});
  const auto at = Clock::now();
  net.Signal(primary, SIGKILL);
  // A block decided before the kill may still commit meanwhile, even during the view change:
  // the height counted is the one the successor holds once it has entered a later view.
  double height = -1;
  return WaitUntil(
      [&] {
        if (height < 0) {
          if (net.NodeMetric(next, "ertr_view") <= view ||
              net.NodeMetric(next, "ertr_view_changing") != 0) {
            return false;
          }
          height = net.Height(next);
          return false;
        }
        return net.Height(next) > height;
      },
      at, std::chrono::seconds(60));
}

}  // namespace

int main(int argc, char** argv) {
  ertr::proto::PrepareGrpcProcess();
  CLI::App app{"ertr-bench - load a local ertrchain network through the integrator API"};
  Options o;
  app.add_option("--ertrd", o.ertrd, "Path of the ertrd binary")->required();
  app.add_option("--mode", o.mode, "closed, open, catchup, restart or null")
      ->check(CLI::IsMember({"closed", "open", "catchup", "restart", "null"}))
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
  app.add_option("--min-pipelined-batch", o.min_pipelined_batch,
                 "Set consensus.min_pipelined_batch in every node's config (default: keep)");
  app.add_option("--batch-wait-us", o.batch_wait_us,
                 "Set consensus.batch_wait_us in every node's config (default: keep; 0: off)")
      ->check(CLI::Range(0, 100'000));
  app.add_option("--call-batch", o.call_batch, "Null mode: most commands per SubmitTransactions")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  app.add_option("--block-size", o.block_size,
                 "Null mode: the genesis max_block_transactions (default: the genesis default)")
      ->check(CLI::Range(1u, 100'000u));
  app.add_option("--log-level", o.log_level, "The nodes' log level (diagnosis)")
      ->capture_default_str();
  app.add_flag("--keep", o.keep, "Keep the network's directory (logs) and print where it is");
  app.add_flag("--kill-primary", o.kill_primary,
               "Closed, open and null modes: kill -9 the primary a third into the run (not "
               "restarted) and report the time to its successor's first commit");
  app.add_option("--csv", o.csv, "Append a CSV line with the results to this file");
  CLI11_PARSE(app, argc, argv);
  if (o.mode == "open" && o.rate <= 0) {
    std::cerr << "ertr-bench: --mode open needs --rate (records per second offered)\n";
    return 2;
  }
  if (o.kill_primary && (o.mode == "catchup" || o.mode == "restart" || o.validators < 4)) {
    std::cerr << "ertr-bench: --kill-primary needs --mode closed, open or null (catchup and "
                 "restart stop a validator of their own) and at least 4 validators\n";
    return 2;
  }
  if (!crypto::Init().ok()) return 1;
  if (o.mode == "null") o.size = 8;  // a command's payload

  testing::LocalNetworkOptions lo;
  lo.ertrd = o.ertrd;
  lo.validators = o.validators;
  lo.benchmark_mode = o.mode == "null";
  lo.log_level = o.log_level;
  lo.max_block_transactions = o.block_size;
  if (o.pipeline_window > 0) lo.consensus["pipeline_window"] = std::to_string(o.pipeline_window);
  if (o.min_pipelined_batch > 0) {
    lo.consensus["min_pipelined_batch"] = std::to_string(o.min_pipelined_batch);
  }
  if (o.batch_wait_us >= 0) lo.consensus["batch_wait_us"] = std::to_string(o.batch_wait_us);
  LocalNetwork net(lo);
  if (!net.Create()) return 1;
  net.StartAll();
  auto fail = [](const std::string& why) { std::cerr << "ertr-bench: " << why << "\n"; };
  if (!net.WaitConnected(30)) {
    fail("the network did not connect");
    return 1;
  }
  ledger::Pseudonym patient;
  std::vector<crypto::SigningKey> integrators;
  if (auto s = net.RegisterLoadUsers(patient, integrators); !s.ok()) {
    fail(s.ToString());
    return 1;
  }

  std::vector<testing::ProcStats> before;
  for (int i = 0; i < o.validators; ++i) {
    // Reset each node's peak RSS (VmHWM) so that the peak below is the run's, not start-up's.
    std::ofstream("/proc/" + std::to_string(net.pid(i)) + "/clear_refs") << "5";
    before.push_back(ReadProc(net.pid(i)));
  }
  const double replicated_before = net.SumMetric("ertr_blob_bytes_received_total");
  const NodeTimings timings_before = ReadNodeTimings(net);
  Load load;
  const double bench_cpu_before = SelfCpuSeconds();
  const auto end = Clock::now() + std::chrono::seconds(o.seconds);
  double event_s = -1;  // catch-up or restart time
  double catchup_txs = 0;
  double sync_s = -1;  // catch-up: from the first synced block to the last (process start excluded)
  const int last = o.validators - 1;
  std::optional<KilledPrimary> primary_killed;
  std::thread killer;
  if (o.kill_primary) killer = std::thread([&] { event_s = KillPrimary(o, net, primary_killed); });
  if (o.mode == "restart") {
    std::thread loader([&] { RunLoad(o, net, integrators, patient, end, load); });
    std::this_thread::sleep_for(std::chrono::seconds(o.seconds) / 3);
    const double height = net.NodeMetric(last, "ertr_height");
    const auto killed = Clock::now();
    net.Signal(last, SIGKILL);
    net.Start(last);
    event_s = WaitFor(
        net, last, [&](double h) { return h > height; }, killed, std::chrono::seconds(60));
    loader.join();
  } else if (o.mode == "null") {
    RunNullLoad(o, net, integrators, end, load);
  } else {
    RunLoad(o, net, integrators, patient, end, load);
  }
  if (killer.joinable()) killer.join();
  std::vector<testing::ProcStats> after;
  for (int i = 0; i < o.validators; ++i) after.push_back(ReadProc(net.pid(i)));
  if (primary_killed) {  // its figures at its kill
    after[static_cast<std::size_t>(primary_killed->index)] = primary_killed->proc;
  }
  const double bench_cpu = SelfCpuSeconds() - bench_cpu_before;
  double replicated = net.SumMetric("ertr_blob_bytes_received_total") - replicated_before;
  NodeTimings timings = ReadNodeTimings(net) - timings_before;
  if (primary_killed) {
    replicated += primary_killed->replicated;
    timings = timings + primary_killed->timings;
  }
  if (o.mode == "catchup") {
    const double target = net.NodeMetric(0, "ertr_height");
    catchup_txs = net.NodeMetric(0, "ertr_transactions_committed_total");
    net.Signal(last, SIGTERM);
    net.Wipe(last);
    const auto started = Clock::now();
    net.Start(last);
    const double first = WaitFor(
        net, last, [&](double h) { return h >= 1; }, started, std::chrono::seconds(60));
    event_s = WaitFor(
        net, last, [&](double h) { return h >= target; }, started, std::chrono::seconds(300));
    if (first >= 0 && event_s > first) sync_s = event_s - first;
  }
  if (o.keep) {
    net.Keep();
    std::cout << "network kept in " << net.dir().string() << "\n";
  }
  net.Stop();

  const auto& lat = load.latencies_ms;
  const double rate = static_cast<double>(lat.size()) / load.elapsed_s;
  double cpu = 0;
  std::uint64_t peak = 0, growth = 0;
  std::size_t grew_most = 0;  // the validator with the largest growth
  for (std::size_t i = 0; i < after.size(); ++i) {
    cpu += after[i].cpu_seconds - before[i].cpu_seconds;
    peak = std::max(peak, after[i].peak_rss_kb);
    if (after[i].peak_rss_kb > before[i].rss_kb &&
        after[i].peak_rss_kb - before[i].rss_kb > growth) {
      growth = after[i].peak_rss_kb - before[i].rss_kb;
      grew_most = i;
    }
  }
  const double cpu_ms = lat.empty() ? 0
                                    : 1000 * cpu / static_cast<double>(lat.size()) /
                                          static_cast<double>(o.validators);
  const double mb_s = rate * static_cast<double>(o.size) / 1e6;
  // Mean CPU use of one validator, and of the load generator, in % of one core.
  const double validator_cpu_pct =
      100 * cpu / static_cast<double>(o.validators) / std::max(load.elapsed_s, 1e-9);
  const double bench_cpu_pct = 100 * bench_cpu / std::max(load.elapsed_s, 1e-9);
  const char* unit = o.mode == "null" ? "commands" : "records";
  const double p50 = Percentile(lat, 0.50), p95 = Percentile(lat, 0.95),
               p99 = Percentile(lat, 0.99);
  const double mean =
      lat.empty() ? 0
                  : std::accumulate(lat.begin(), lat.end(), 0.0) / static_cast<double>(lat.size());
  std::cout << std::fixed << std::setprecision(1) << "mode " << o.mode << "  validators "
            << o.validators << "  clients " << o.concurrency << "  record " << o.size
            << " B  measured " << load.elapsed_s << " s";
  if (o.mode == "open") std::cout << "  offered " << o.rate << " records/s";
  if (o.mode == "null") {
    std::cout << "  block size " << (o.block_size ? std::to_string(o.block_size) : "default")
              << "  call batch " << o.call_batch;
  }
  std::cout << "\ncommitted " << unit << "/s  " << rate << "  (" << lat.size() << " " << unit
            << ", " << load.errors << " errors)  " << std::setprecision(2) << mb_s << " MB/s\n"
            << std::setprecision(1) << "commit latency ms    p50 " << p50 << "  p95 " << p95
            << "  p99 " << p99 << "  mean " << mean << "\n";
  if (!load.latencies_by_validator_ms.empty()) {
    std::cout << "  by the validator called: ";
    for (const auto& [via, l] : load.latencies_by_validator_ms) {
      std::cout << "node" << via << " p50 " << Percentile(l, 0.50) << " p99 " << Percentile(l, 0.99)
                << "  ";
    }
    std::cout << "\n";
  }
  std::cout << std::setprecision(3) << "validator CPU ms per " << unit << " (mean per validator) "
            << cpu_ms << "\n"
            << std::setprecision(0) << "CPU use: each validator " << validator_cpu_pct
            << " % of a core (mean), load generator " << bench_cpu_pct << " %\n"
            << "peak RSS of any validator  " << peak / 1024
            << " MiB (largest growth during the run " << growth / 1024 << " MiB, node" << grew_most
            << ")\n"
            << "bytes replicated between nodes  " << std::setprecision(0) << replicated << "\n";
  // The disks' syncs (one virtual disk shared by every validator here): how many each validator
  // made per second and how long they took (ertr_disk_sync_seconds).
  auto sync_line = [&](const char* what, double count, double seconds) {
    std::cout << std::setprecision(0) << "  " << what << " "
              << count / static_cast<double>(o.validators) / std::max(load.elapsed_s, 1e-9)
              << "/s, mean " << std::setprecision(2) << (count > 0 ? 1000 * seconds / count : 0)
              << " ms";
  };
  std::cout << "disk syncs per validator:";
  sync_line("consensus log", timings.consensus_count, timings.consensus_s);
  sync_line(" blobs", timings.blobs_count, timings.blobs_s);
  std::cout << "\n";
  if (timings.commit_count > 0) {
    std::cout << std::setprecision(1) << "node side, admission to commit: mean "
              << 1000 * timings.commit_s / timings.commit_count << " ms\n";
  }
  if (o.mode == "catchup") {
    std::cout << std::setprecision(2) << "wiped node caught up with " << catchup_txs
              << " transactions in " << event_s
              << " s: " << (event_s > 0 ? catchup_txs / event_s : 0)
              << " transactions/s; block sync alone (from its first block, without the process "
                 "start) "
              << sync_s << " s: " << (sync_s > 0 ? catchup_txs / sync_s : 0) << " transactions/s\n";
  }
  if (o.mode == "restart") {
    std::cout << std::setprecision(3) << "kill -9 to the restarted node's first new commit  "
              << event_s << " s\n";
  }
  if (primary_killed) {
    std::cout << std::setprecision(3) << "kill -9 of the primary (validator "
              << primary_killed->index << ") to its successor's first commit in a new view  "
              << event_s << " s\n";
  }
  if (!load.first_error.empty()) std::cout << "first error: " << load.first_error << "\n";
  if (!o.csv.empty()) {
    const bool fresh = !fs::exists(o.csv);
    std::ofstream f(o.csv, std::ios::app);
    if (fresh) {
      f << "mode,validators,clients,record_bytes,offered_per_s,seconds,records,errors,"
           "records_per_s,mb_per_s,p50_ms,p95_ms,p99_ms,cpu_ms_per_record_per_validator,"
           "peak_rss_mib,rss_growth_mib,bytes_replicated,event_s,catchup_tx,sync_s,block_size,"
           "call_batch,validator_cpu_pct,bench_cpu_pct,mean_ms,killed_primary\n";
    }
    f << o.mode << "," << o.validators << "," << o.concurrency << "," << o.size << "," << o.rate
      << "," << load.elapsed_s << "," << lat.size() << "," << load.errors << "," << rate << ","
      << mb_s << "," << p50 << "," << p95 << "," << p99 << "," << cpu_ms << "," << peak / 1024
      << "," << growth / 1024 << "," << replicated << "," << event_s << "," << catchup_txs << ","
      << sync_s << "," << o.block_size << "," << (o.mode == "null" ? o.call_batch : 0) << ","
      << validator_cpu_pct << "," << bench_cpu_pct << "," << mean << ","
      << (primary_killed ? primary_killed->index : -1) << "\n";
  }
  if (lat.empty() ||
      ((o.kill_primary || (o.mode != "closed" && o.mode != "open" && o.mode != "null")) &&
       event_s < 0)) {
    return 1;
  }
  return 0;
}
