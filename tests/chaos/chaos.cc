// ertr-chaos: the multi-process chaos harness (issue 9, docs/reliability.md).
//
// Real ertrd processes on 127.0.0.1, every validator link through a fault-injecting proxy
// (fault_proxy.h). Integrator clients submit records through the API the whole time while a
// seeded schedule hits at most f validators at once (1 of 4, 2 of 7) with: SIGKILL and restart,
// SIGSTOP/SIGCONT longer than the view timeout, a network partition and its healing, slow and
// lossy links, a restart with an empty data directory, a power cut of every node at once, and
// storage faults in a running node (faultfs.cc: a full disk, failing fsyncs). A node hit by a
// storage fault may keep running (refusing what it cannot store) or stop; if it stops, it must
// exit with an error status and say why in its log, never crash; it is then restarted once the
// disk is healthy again. After each fault heals, commits must resume within --recovery-limit
// seconds. Meanwhile a second patient's records are uploaded at every hospital in turn, and the
// patient's home admin grants the hospitals access one by one: each grant that commits makes the
// records uploaded before it due for key shares from their uploaders' nodes (ADR 0030), which
// the faults may kill, wipe or cut off at that moment. At the end:
//   - every record acknowledged to a client (committed) is committed at the same height on every
//     node;
//   - every node has the same height and state root;
//   - every hospital reads every acknowledged record of the second patient, byte for byte (all
//     are granted by then), within --read-limit seconds;
//   - no node process died on its own.
// Exit 0 only if all of that holds. A failed run keeps its directory (logs, data) and says where.

#include <signal.h>
#include <sys/wait.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "crypto/init.h"
#include "crypto/secure_buffer.h"
#include "tests/chaos/fault_proxy.h"
#include "tests/support/local_network.h"

namespace {

using namespace ertr;
using Clock = std::chrono::steady_clock;
using testing::LocalNetwork;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

struct Acked {
  crypto::Digest tx_id;
  int via;
};

struct Run {
  std::mutex mu;
  std::vector<Acked> acked;
  std::uint64_t errors = 0;
  std::atomic<bool> stop{false};
};

void Load(LocalNetwork& net, const std::vector<crypto::SigningKey>& integrators,
          const ledger::Pseudonym& patient, int clients, Run& run) {
  std::vector<std::thread> threads;
  for (int t = 0; t < clients; ++t) {
    threads.emplace_back([&, t] {
      const int via = t % net.validators();
      std::string payload(2048, '\0');
      std::mt19937_64 rng(static_cast<std::uint64_t>(t) * 7919 + 1);
      std::unique_ptr<cli::ApiClient> client;
      while (!run.stop) {
        if (!client) {
          client = net.Client(
              via, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(via)].Clone()));
        }
        for (auto& c : payload) c = static_cast<char>(rng());
        std::istringstream in(payload);
        auto r = client ? client->SubmitRecord(patient, ledger::RecordKind::kRtBeamsTreatmentRecord,
                                               in, payload.size())
                        : Result<cli::UploadedRecord>(Status::Unavailable("no client"));
        std::lock_guard lock(run.mu);
        if (r) {
          run.acked.push_back({r->submit.tx_id, via});
        } else {
          ++run.errors;
          run.mu.unlock();
          std::this_thread::sleep_for(std::chrono::milliseconds(200));
          run.mu.lock();
        }
      }
    });
  }
  for (auto& th : threads) th.join();
}

// The consent part: a second patient's records, and the grants made while the faults go on.
struct Consent {
  ledger::Pseudonym patient;
  // Written by UploadShared alone until it is joined.
  std::vector<std::pair<ledger::RecordId, std::string>> records;  // acknowledged, with plaintext
  std::uint64_t upload_errors = 0;
  int grants = 0;  // committed; the k-th names hosp-a + k
};

// Uploads a record of the consent patient at each hospital in turn, one about every 200 ms.
void UploadShared(LocalNetwork& net, const std::vector<crypto::SigningKey>& integrators,
                  Consent& consent, Run& run) {
  std::mt19937_64 rng(0x5eed);
  for (int n = 0; !run.stop; ++n) {
    const int via = n % net.validators();
    std::string payload(2048, '\0');
    for (auto& c : payload) c = static_cast<char>(rng());
    auto client = net.Client(
        via, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(via)].Clone()));
    std::istringstream in(payload);
    auto r = client ? client->SubmitRecord(consent.patient, ledger::RecordKind::kRtPlan, in,
                                           payload.size())
                    : Result<cli::UploadedRecord>(Status::Unavailable("no client"));
    auto id = r ? ledger::RecordId::FromSpan(AsBytes(r->upload.record_id()), "record_id")
                : Result<ledger::RecordId>(r.error());
    if (id) {
      consent.records.emplace_back(*id, std::move(payload));
    } else {
      ++consent.upload_errors;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

// Grants the next hospital (hosp-a, hosp-b, ... in turn) access to all of the consent patient's
// records, through hosp-a's admin at node 0, and waits for its commit. The grant is signed once and
// sent again until it commits (a committed transaction sent again answers its outcome). "" or why
// it failed: refused, or not committed by `give_up`.
std::string GrantNext(LocalNetwork& net, Consent& consent, Clock::time_point give_up) {
  const std::string grantee = std::string("hosp-") + static_cast<char>('a' + consent.grants);
  auto msg = cli::SignTransaction(
      net.chain_id(), *net.AdminKey(0),
      ledger::GrantConsent{crypto::RandomNonZeroId<ledger::GrantId>(), consent.patient,
                           ledger::GranteeInstitution{grantee}, ledger::ScopeAll{}, 0});
  if (!msg) return "cannot make a grant: " + msg.error().ToString();
  for (;;) {
    auto client = net.Client(0, net.AdminKey(0));
    auto r = client ? client->SubmitSigned(*msg, true)
                    : Result<cli::SubmitResult>(Status::Unavailable("no client"));
    if (r) {
      ++consent.grants;
      return "";
    }
    const StatusCode code = r.error().code();
    if (code != StatusCode::kUnavailable && code != StatusCode::kResourceExhausted &&
        code != StatusCode::kInternal) {
      return "the grant to " + grantee + " was refused: " + r.error().ToString();
    }
    if (Clock::now() > give_up) {
      return "the grant to " + grantee + " did not commit: " + r.error().ToString();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
}

// Every hospital reads every acknowledged record of the consent patient, retrying while its node
// answers UNAVAILABLE (a key share or a blob on its way), until `deadline`. The first failure, or
// "" if every read returned the uploaded bytes.
std::string ReadShared(LocalNetwork& net, const std::vector<crypto::SigningKey>& integrators,
                       Consent& consent, Clock::time_point deadline, double& slowest) {
  std::vector<std::thread> readers;
  std::mutex mu;
  std::string failure;
  for (int via = 0; via < net.validators(); ++via) {
    readers.emplace_back([&, via] {
      auto client = net.Client(
          via, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(via)].Clone()));
      const auto began = Clock::now();
      for (const auto& [record, plain] : consent.records) {
        Result<v1::RecordInfo> r = Status::Unavailable("not read");
        std::ostringstream out;
        while (client && Clock::now() < deadline) {
          out.str("");
          r = client->GetRecord(record, "treatment", out);
          if (r || r.error().code() != StatusCode::kUnavailable) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        std::lock_guard lock(mu);
        if (!client || !r || out.str() != plain) {
          if (failure.empty()) {
            failure = "record " + record.ShortHex() +
                      " of the consent patient is not readable at node" + std::to_string(via) +
                      ": " +
                      (!client ? std::string("no client")
                       : !r    ? r.error().ToString()
                               : std::string("its bytes differ from those uploaded"));
          }
          return;
        }
      }
      std::lock_guard lock(mu);
      slowest = std::max(slowest, Seconds(Clock::now() - began));
    });
  }
  for (auto& t : readers) t.join();
  return failure;
}

double MaxHeight(const LocalNetwork& net) {
  double h = -1;
  for (int i = 0; i < net.validators(); ++i) {
    if (net.Running(i)) h = std::max(h, net.Height(i));
  }
  return h;
}

// A node process that exited without being told to.
std::string DeadNodes(LocalNetwork& net) {
  std::string dead;
  for (int i = 0; i < net.validators(); ++i) {
    if (net.Reap(i)) dead += " node" + std::to_string(i);
  }
  return dead;
}

std::string Tail(const std::filesystem::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out += all[i] + "\n";
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ertr-chaos - faults against a local ertrchain network under load"};
  std::string ertrd, report, faultfs, only_kinds, log_level = "info";
  int validators = 4, seconds = 60, clients = 8, recovery_limit = 30, read_limit = 120;
  std::uint64_t seed = 0;
  app.add_option("--ertrd", ertrd, "Path of the ertrd binary")->required();
  app.add_option("--validators", validators, "4 (one fault at a time) or 7 (two)")
      ->check(CLI::IsMember({4, 7}))
      ->capture_default_str();
  app.add_option("--seconds", seconds, "How long faults are injected")->capture_default_str();
  app.add_option("--clients", clients, "Concurrent integrator clients")->capture_default_str();
  app.add_option("--seed", seed, "Schedule seed (default: random, printed)");
  app.add_option("--recovery-limit", recovery_limit,
                 "Seconds within which commits must resume after a fault heals")
      ->capture_default_str();
  app.add_option("--kinds", only_kinds,
                 "Only these fault kinds, comma-separated (kill, stop, partition, link-cut, "
                 "slow-lossy, wipe, power-cut, disk-full, fsync-error)");
  app.add_option("--faultfs", faultfs,
                 "The storage-fault library (default: libertr_faultfs.so beside this program; "
                 "without it, no storage faults are injected)");
  app.add_option("--read-limit", read_limit,
                 "Seconds within which every hospital must read every record of the consent "
                 "patient, once the nodes converged")
      ->capture_default_str();
  app.add_option("--report", report, "Append a CSV line with the results to this file");
  app.add_option("--log-level", log_level,
                 "The nodes' log level (info keeps the evidence a failed run needs)")
      ->check(CLI::IsMember({"debug", "info", "warn"}))
      ->capture_default_str();
  bool keep = false;
  app.add_flag("--keep", keep,
               "Keep the network's directory (logs, data) even when the run passes");
  CLI11_PARSE(app, argc, argv);
  if (!crypto::Init().ok()) return 1;
  if (seed == 0) seed = std::random_device{}() | 1;
  std::mt19937_64 rng(seed);
  const int f = (validators - 1) / 3;
  const int view_timeout_ms = 1000;
  std::cout << "ertr-chaos: seed " << seed << ", " << validators << " validators (f = " << f
            << "), " << seconds << " s of faults, " << clients << " clients" << std::endl;

  testing::LocalNetworkOptions lo;
  lo.ertrd = ertrd;
  lo.validators = validators;
  lo.view_timeout_ms = view_timeout_ms;
  lo.log_level = log_level;
  if (faultfs.empty()) {
    faultfs = (std::filesystem::path(argv[0]).parent_path() / "libertr_faultfs.so").string();
  }
  if (!std::filesystem::exists(faultfs)) {
    std::cout << "ertr-chaos: no storage-fault library at " << faultfs
              << ": storage faults are not injected" << std::endl;
    faultfs.clear();
  }
  lo.faultfs = faultfs;
  LocalNetwork net(lo);
  if (!net.Create()) return 1;
  const int proxy_base = net.p2p_port(0) + 40;
  std::vector<int> targets;
  for (int j = 0; j < validators; ++j) targets.push_back(net.p2p_port(j));
  chaos::FaultProxy proxy(validators, proxy_base, targets, seed);
  for (int i = 0; i < validators; ++i) {
    for (int j = 0; j < validators; ++j) {
      if (i != j && !net.RoutePeer(i, j, proxy.listen_port(i, j))) {
        std::cerr << "ertr-chaos: cannot route node" << i << " -> node" << j << "\n";
        return 1;
      }
    }
  }
  if (!proxy.Start()) {
    std::cerr << "ertr-chaos: a proxy port is taken; run again\n";
    return 1;
  }
  net.StartAll();
  if (!net.WaitConnected(30)) {
    std::cerr << "ertr-chaos: the network did not connect\n";
    net.Keep();
    return 1;
  }
  ledger::Pseudonym patient;
  std::vector<crypto::SigningKey> integrators;
  if (auto s = net.RegisterLoadUsers(patient, integrators); !s.ok()) {
    std::cerr << "ertr-chaos: " << s.ToString() << "\n";
    net.Keep();
    return 1;
  }

  Consent consent;
  consent.patient = crypto::RandomNonZeroId<ledger::Pseudonym>();
  if (auto r = net.Client(0, net.AdminKey(0))
                   ->Submit(ledger::RegisterPatient{consent.patient, "hosp-a", {}});
      !r) {
    std::cerr << "ertr-chaos: registering the consent patient: " << r.error().ToString() << "\n";
    net.Keep();
    return 1;
  }

  Run run;
  std::thread load([&] { Load(net, integrators, patient, clients, run); });
  std::thread shared([&] { UploadShared(net, integrators, consent, run); });
  std::map<std::string, int> injected;
  double max_recovery = 0;
  std::string failure;
  const auto start = Clock::now();
  std::this_thread::sleep_for(std::chrono::seconds(2));  // load before the first fault
  auto pick_victims = [&] {
    std::vector<int> all(static_cast<std::size_t>(validators));
    for (int i = 0; i < validators; ++i) all[static_cast<std::size_t>(i)] = i;
    std::shuffle(all.begin(), all.end(), rng);
    return std::vector<int>(all.begin(), all.begin() + f);
  };
  auto others_of = [&](const std::vector<int>& victims) {
    std::vector<int> out;
    for (int i = 0; i < validators; ++i) {
      if (std::find(victims.begin(), victims.end(), i) == victims.end()) out.push_back(i);
    }
    return out;
  };
  auto ms = [&](int lo_ms, int hi_ms) {
    return std::chrono::milliseconds(lo_ms + static_cast<int>(rng() % (hi_ms - lo_ms + 1)));
  };
  std::vector<std::string> kinds = {"kill",       "stop", "partition", "link-cut",
                                    "slow-lossy", "wipe", "power-cut"};
  if (!faultfs.empty()) {
    kinds.push_back("disk-full");
    kinds.push_back("fsync-error");
  }
  if (!only_kinds.empty()) {
    std::vector<std::string> chosen;
    std::stringstream list(only_kinds);
    for (std::string k; std::getline(list, k, ',');) {
      if (std::find(kinds.begin(), kinds.end(), k) == kinds.end()) {
        std::cerr << "ertr-chaos: --kinds: '" << k << "' is not a fault kind this run can inject"
                  << (faultfs.empty() ? " (storage faults need the faultfs library)" : "") << "\n";
        return 2;
      }
      chosen.push_back(k);
    }
    kinds = chosen;
  }
  int storage_stops = 0;
  while (failure.empty() && Clock::now() - start < std::chrono::seconds(seconds)) {
    const std::string kind = kinds[rng() % kinds.size()];
    const auto victims = pick_victims();
    std::ostringstream what;
    what << kind;
    // A link cut involves the first victim only (and the peer chosen below).
    for (int v : victims) {
      what << " node" << v;
      if (kind == "link-cut") break;
    }
    // A crash right after a grant commits: the key shares it made due are on their way, or still
    // waiting at their node, or not made yet (ADR 0030). The k-th grant comes with the first crash
    // after (k + 1) / (n + 1) of the run, so that each finds records uploaded since the one before.
    const bool crash = kind == "kill" || kind == "wipe" || kind == "power-cut";
    std::string after_grant;
    if (crash && consent.grants < validators &&
        Clock::now() - start >=
            std::chrono::milliseconds(1000LL * seconds * (consent.grants + 1) / (validators + 1))) {
      after_grant =
          std::string(" just after the grant to hosp-") + static_cast<char>('a' + consent.grants);
      failure = GrantNext(net, consent, Clock::now() + std::chrono::seconds(recovery_limit));
      if (!failure.empty()) break;
      std::this_thread::sleep_for(ms(0, 5));
    }
    const double before_fault = MaxHeight(net);
    std::cout << "  t=" << std::fixed << std::setprecision(1) << Seconds(Clock::now() - start)
              << "s  " << (kind == "power-cut" ? "power-cut all nodes" : what.str()) << after_grant
              << std::flush;
    if (kind == "kill") {
      for (int v : victims) net.Signal(v, SIGKILL);
      std::this_thread::sleep_for(ms(500, 3000));
      for (int v : victims) net.Start(v);
    } else if (kind == "stop") {
      for (int v : victims) net.Signal(v, SIGSTOP);
      std::this_thread::sleep_for(ms(2 * view_timeout_ms, 4 * view_timeout_ms));
      for (int v : victims) net.Signal(v, SIGCONT);
    } else if (kind == "partition") {
      for (int v : victims) proxy.SetBetween(v, others_of(victims), chaos::LinkState{false, 0, 0});
      std::this_thread::sleep_for(ms(2000, 5000));
      proxy.HealAll();
    } else if (kind == "link-cut") {
      // One link down, both ends still connected to everyone else: what one sends the other
      // travels through a third node (a relay) or waits for a view change.
      const auto others = others_of(victims);
      const int peer = others[rng() % others.size()];
      std::cout << " (link to node" << peer << ")" << std::flush;
      proxy.SetBetween(victims.front(), {peer}, chaos::LinkState{false, 0, 0});
      std::this_thread::sleep_for(ms(3000, 6000));
      proxy.HealAll();
    } else if (kind == "slow-lossy") {
      const auto delay = static_cast<std::uint32_t>(20 + rng() % 180);
      for (int v : victims) {
        proxy.SetBetween(v, others_of(victims), chaos::LinkState{true, delay, 0.01});
      }
      std::this_thread::sleep_for(ms(3000, 6000));
      proxy.HealAll();
    } else if (kind == "wipe") {
      for (int v : victims) {
        net.Signal(v, SIGKILL);
        net.Wipe(v);
      }
      std::this_thread::sleep_for(ms(500, 2000));
      for (int v : victims) net.Start(v);
    } else if (kind == "disk-full" || kind == "fsync-error") {
      for (int v : victims) net.SetStorageFault(v, kind == "disk-full" ? "enospc" : "eio-sync");
      std::this_thread::sleep_for(ms(2000, 5000));
      for (int v : victims) net.SetStorageFault(v, "");
      std::this_thread::sleep_for(std::chrono::milliseconds(100));  // the library re-reads it
      for (int v : victims) {
        // A node may notice the failure a little after the disk healed (its next write); give it
        // a few seconds to stop before deciding it kept running.
        std::optional<int> status;
        for (int k = 0; k < 30 && !(status = net.Reap(v)); ++k) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
        }
        if (!status) continue;  // still running: it refused what it could not store
        const std::string log = Tail(net.dir() / ("node" + std::to_string(v) + ".log"), 20);
        if (!WIFEXITED(*status) || WEXITSTATUS(*status) == 0) {
          failure = "node" + std::to_string(v) + " did not stop cleanly on a storage fault (" +
                    (WIFSIGNALED(*status) ? "signal " + std::to_string(WTERMSIG(*status))
                                          : "exit status 0") +
                    ")";
        } else if (log.find(kind == "disk-full" ? "No space left on device"
                                                : "Input/output error") == std::string::npos) {
          failure = "node" + std::to_string(v) + " stopped on a storage fault without saying why";
        }
        std::cout << " [node" << v << " stopped]" << std::flush;
        ++storage_stops;
        net.Start(v);
      }
    } else {
      for (int i = 0; i < validators; ++i) net.Signal(i, SIGKILL);
      std::this_thread::sleep_for(ms(500, 2000));
      net.StartAll();
    }
    ++injected[kind];
    // Healed: commits must resume, beyond what any node had before the fault and at the heal
    // (restarted nodes may not answer yet, and report old heights while they catch up).
    const auto healed = Clock::now();
    const double height = std::max(before_fault, MaxHeight(net));
    double recovery = -1;
    while (Clock::now() - healed < std::chrono::seconds(recovery_limit)) {
      if (MaxHeight(net) > height) {
        recovery = Seconds(Clock::now() - healed);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::cout << "  -> commits resumed after " << std::setprecision(2) << recovery << " s"
              << std::endl;
    if (recovery < 0) {
      failure = "commits did not resume within " + std::to_string(recovery_limit) +
                " s after: " + what.str();
    } else {
      max_recovery = std::max(max_recovery, recovery);
    }
    if (auto dead = DeadNodes(net); !dead.empty()) {
      failure = "node process exited on its own:" + dead;
    }
    std::this_thread::sleep_for(ms(500, 1500));
  }
  run.stop = true;
  load.join();
  shared.join();
  proxy.HealAll();
  for (int i = 0; i < validators; ++i) {
    if (net.Running(i)) net.Signal(i, SIGCONT);
  }
  // The grants no crash came after.
  while (failure.empty() && consent.grants < validators) {
    failure = GrantNext(net, consent, Clock::now() + std::chrono::seconds(recovery_limit));
  }

  // Every node converges: the same height, unchanged for 2 s, and the same state root.
  std::vector<std::string> roots;
  double final_height = -1;
  if (failure.empty()) {
    const auto deadline = Clock::now() + std::chrono::seconds(120);
    double stable_since_height = -2;
    auto stable_since = Clock::now();
    for (;;) {
      std::vector<double> hs;
      for (int i = 0; i < validators; ++i) hs.push_back(net.Height(i));
      const bool equal = std::all_of(hs.begin(), hs.end(), [&](double h) { return h == hs[0]; });
      if (!equal || hs[0] != stable_since_height) {
        stable_since_height = equal ? hs[0] : -2;
        stable_since = Clock::now();
      } else if (Clock::now() - stable_since > std::chrono::seconds(2)) {
        final_height = hs[0];
        break;
      }
      if (Clock::now() > deadline) {
        std::ostringstream s;
        s << "the nodes did not converge within 120 s (heights";
        for (double h : hs) s << " " << h;
        failure = s.str() + ")";
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  }
  if (failure.empty()) {
    for (int i = 0; i < validators; ++i) {
      roots.push_back(
          testing::JsonField(testing::HttpGet(net.http_port(i), "/v1/status"), "state_root"));
    }
    for (int i = 1; i < validators; ++i) {
      if (roots[static_cast<std::size_t>(i)] != roots[0] || roots[0].empty()) {
        failure = "state roots differ: node0 " + roots[0] + ", node" + std::to_string(i) + " " +
                  roots[static_cast<std::size_t>(i)];
      }
    }
  }
  // Every acknowledged record is committed, at the same height, on every node.
  std::uint64_t lost = 0;
  if (failure.empty()) {
    std::vector<std::unique_ptr<cli::ApiClient>> readers;
    for (int i = 0; i < validators; ++i) {
      readers.push_back(net.Client(
          i, crypto::MakeEd25519Signer(integrators[static_cast<std::size_t>(i)].Clone())));
    }
    for (const auto& a : run.acked) {
      std::uint64_t height = 0;
      for (int i = 0; i < validators; ++i) {
        auto info = readers[static_cast<std::size_t>(i)]->GetTransaction(a.tx_id);
        const bool ok = info && info->status() == ertr::v1::TRANSACTION_STATUS_ACCEPTED &&
                        (height == 0 || info->height() == height);
        if (!ok) {
          ++lost;
          if (failure.empty()) {
            failure = "acknowledged transaction " + a.tx_id.ToHex() + " is not committed at node" +
                      std::to_string(i) + (info ? "" : ": " + info.error().ToString());
          }
          break;
        }
        height = info->height();
      }
    }
  }
  // Every hospital holds every grant now: each reads each record of the consent patient, the
  // key shares made for it under the faults included.
  double slowest_reads = 0;
  if (failure.empty()) {
    failure = ReadShared(net, integrators, consent, Clock::now() + std::chrono::seconds(read_limit),
                         slowest_reads);
  }
  if (auto dead = DeadNodes(net); failure.empty() && !dead.empty()) {
    failure = "node process exited on its own:" + dead;
  }

  int total_faults = 0;
  std::ostringstream kinds_text;
  for (const auto& [k, n] : injected) {
    total_faults += n;
    kinds_text << (kinds_text.tellp() > 0 ? " " : "") << k << "=" << n;
  }
  std::cout << std::setprecision(2) << "faults injected " << total_faults << " ("
            << kinds_text.str() << ")\nrecords acknowledged " << run.acked.size() << ", lost "
            << lost << ", client errors while faults were active " << run.errors
            << "\nconsent patient: " << consent.records.size() << " records ("
            << consent.upload_errors << " uploads failed under the faults), " << consent.grants
            << " of " << validators << " grants committed, "
            << (slowest_reads > 0 ? "every hospital read every record (slowest hospital "
                                  : "reads not completed (")
            << slowest_reads << " s)"
            << "\nnodes that stopped cleanly on a storage fault " << storage_stops
            << "\nmax time until commits resumed " << max_recovery << " s\nfinal height "
            << final_height << ", state roots " << (roots.empty() ? "not compared" : "equal")
            << std::endl;
  if (!report.empty()) {
    const bool fresh = !std::filesystem::exists(report);
    std::ofstream out(report, std::ios::app);
    if (fresh) {
      out << "seed,validators,seconds,faults,kinds,acknowledged,lost,max_recovery_s,result\n";
    }
    out << seed << "," << validators << "," << seconds << "," << total_faults << ","
        << kinds_text.str() << "," << run.acked.size() << "," << lost << "," << max_recovery << ","
        << (failure.empty() ? "pass" : "FAIL") << "\n";
  }
  if (!failure.empty()) {
    net.Keep();
    std::cout << "FAILED (seed " << seed << "): " << failure << "\nlogs and data kept in "
              << net.dir() << "\n";
    for (int i = 0; i < validators; ++i) {
      std::cout << "--- node" << i << " log tail ---\n"
                << Tail(net.dir() / ("node" + std::to_string(i) + ".log"), 15);
    }
    proxy.Stop();
    return 1;
  }
  proxy.Stop();
  if (keep) {
    net.Keep();
    std::cout << "logs and data kept in " << net.dir() << "\n";
  }
  std::cout << "PASS (seed " << seed << ")\n";
  return 0;
}
