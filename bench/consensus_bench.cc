// Consensus throughput of a simulated 4-replica cluster in one process on one core, with real
// Ed25519 signatures (issue 3). All four replicas share the core, so the figures are what one
// core sustains for the whole cluster. Prints a markdown table (bench/run-consensus writes it
// into docs/benchmarks.md).

#include <chrono>
#include <cstdio>

#include "crypto/init.h"
#include "tests/sim/sim_cluster.h"

namespace {

using namespace ertr;

}  // namespace

int main() {
  if (!crypto::Init().ok()) return 1;
  std::printf(
      "| batch size | transactions | blocks | wall s | blocks/s | transactions/s | "
      "consensus signatures per block (sign + verify, whole cluster) | "
      "consensus signature work per transaction vs. transaction signature checks |\n");
  std::printf("|---|---|---|---|---|---|---|---|\n");
  for (std::uint32_t batch : {1u, 100u, 1000u}) {
    const std::size_t txs = batch == 1 ? 2'000 : 40'000;
    sim::SimOptions o;
    o.n = 4;
    o.seed = 42;
    o.real_crypto = true;
    o.max_block_transactions = batch;
    o.pipeline_window = 8;
    o.checkpoint_interval = 64;
    o.min_delay_ms = 1;
    o.max_delay_ms = 2;
    o.view_timeout_ms = 60'000;
    sim::SimCluster c(o);
    auto start = std::chrono::steady_clock::now();
    for (std::size_t sent = 0; sent < txs; sent += 1000)
      c.Submit(std::min<std::size_t>(1000, txs - sent));
    bool done = c.RunUntilAllDelivered(10'000'000);
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!done || !c.ok()) {
      std::fprintf(stderr, "batch %u: run did not finish: %s\n", batch, c.violation().c_str());
      return 1;
    }
    const double blocks = static_cast<double>(c.delivered_height(0));
    // Measured: every signature the replicas made or checked (checkpoints included). Compared
    // with the transactions' own signatures, which every validator verifies once (n per tx).
    const double n = o.n;
    const double ops = static_cast<double>(c.signatures_made() + c.signatures_verified());
    const double per_block = ops / blocks;
    const double per_tx = ops / static_cast<double>(txs);
    std::printf("| %u | %zu | %.0f | %.2f | %.0f | %.0f | %.0f | %.1f%% (%.2f vs %.0f per tx) |\n",
                batch, txs, blocks, secs, blocks / secs, static_cast<double>(txs) / secs, per_block,
                100.0 * per_tx / n, per_tx, n);
  }
  return 0;
}
