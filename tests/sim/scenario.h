#pragma once

// Runs a fault scenario over many seeds and reports the first failing seed with its trace.
// Seeds per scenario: $ERTR_SIM_SEEDS (default 200); a soak: ERTR_SIM_SEEDS=10000.
// Replay one seed: ERTR_SIM_SEED=<seed>.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>

#include "tests/sim/sim_cluster.h"

namespace ertr::sim {

// Sets up and drives the fault phase; the runner then heals the network and checks liveness.
using ScenarioFn = std::function<void(SimCluster&, std::mt19937_64&)>;

inline std::uint64_t SeedCount() {
  const char* env = std::getenv("ERTR_SIM_SEEDS");
  return env ? std::strtoull(env, nullptr, 10) : 200;
}

struct ScenarioResult {
  std::uint64_t runs = 0;
  std::uint64_t failures = 0;
  std::uint64_t first_failing_seed = 0;
  std::string first_failure;
  std::string trace;
};

inline ScenarioResult RunSeeds(const std::string& name, SimOptions base, const ScenarioFn& fn,
                               std::uint64_t liveness_deadline_ms = 300'000,
                               bool stop_at_first = true) {
  ScenarioResult result;
  std::uint64_t first = 1, count = SeedCount();
  if (const char* one = std::getenv("ERTR_SIM_SEED")) {
    first = std::strtoull(one, nullptr, 10);
    count = 1;
  }
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    SimOptions o = base;
    o.seed = seed * 1'000'003 + std::hash<std::string>{}(name) % 1000;
    // Some schedules with the primary's PRE-PREPAREs in the full form (ADR 0026).
    if (o.full_pre_prepares_every != 0 && seed % o.full_pre_prepares_every == 0) {
      o.compact_pre_prepares = false;
    }
    if (o.links_ignored_every != 0 && seed % o.links_ignored_every == 1) {
      o.primary_link_timeout_ms = 0;
    }
    // Some with primaries that wait after each delivery for its callers (ADR 0042): 3 ms, about
    // a message delay here, so that the wait ends by its timer in some runs and not in others.
    if (o.batch_wait_every != 0 && seed % o.batch_wait_every == 3 % o.batch_wait_every &&
        o.batch_wait_us == 0) {
      o.batch_wait_us = 3000;
      o.min_pipelined_batch = std::max(o.min_pipelined_batch, o.batch_wait_min_batch);
    }
    SimCluster c(o);
    std::mt19937_64 rng(o.seed ^ 0x5eed);
    fn(c, rng);
    std::string failure;
    if (c.ok()) {
      c.Heal();
      if (!c.RunUntilAllDelivered(c.now() + liveness_deadline_ms) && c.ok()) {
        failure = "liveness: not every transaction was delivered at every honest replica by t=" +
                  std::to_string(c.now());
      }
    }
    if (!c.ok()) failure = c.violation();
    ++result.runs;
    if (!failure.empty()) {
      if (result.failures++ == 0) {
        result.first_failing_seed = seed;
        result.first_failure = failure;
        result.trace = c.Summary() + "--- events ---\n" + c.Trace();
      }
      if (stop_at_first) break;
    }
  }
  return result;
}

// Runs the scenario and fails the test with the seed and trace of the first failure.
inline void ExpectSafeAndLive(const std::string& name, SimOptions base, const ScenarioFn& fn) {
  auto r = RunSeeds(name, base, fn);
  INFO("scenario " << name << ": " << r.runs << " seeds run");
  if (r.failures != 0) {
    FAIL("scenario " << name << " failed with seed " << r.first_failing_seed
                     << " (replay: ERTR_SIM_SEED=" << r.first_failing_seed
                     << "): " << r.first_failure << "\n--- last events ---\n"
                     << r.trace);
  }
  SUCCEED(name << ": " << r.runs << " schedules safe and live");
}

// Submits `total` transactions in bursts at random times over [0, span_ms).
inline void SubmitOverTime(SimCluster& c, std::mt19937_64& rng, int bursts, int per_burst,
                           std::uint64_t span_ms) {
  std::vector<std::uint64_t> times;
  for (int i = 0; i < bursts; ++i) times.push_back(rng() % span_ms);
  std::sort(times.begin(), times.end());
  for (auto t : times) {
    c.RunUntil(t);
    c.Submit(per_burst);
  }
}

}  // namespace ertr::sim
