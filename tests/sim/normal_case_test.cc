// Normal case and crash faults over many seeded schedules (docs/spec/consensus.md section 9).

#include <algorithm>

#include "tests/sim/scenario.h"

namespace ertr::sim {
namespace {

TEST_CASE("n=4 normal case with delays, reordering and duplicates", "[sim]") {
  SimOptions o;
  o.duplicate = 0.05;
  o.max_delay_ms = 30;
  ExpectSafeAndLive("n4-normal", o, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 8, 5, 2000);
    c.RunUntil(3000);
  });
}

TEST_CASE("n=4 backups fetch the transactions of compact proposals that gossip has not brought",
          "[sim]") {
  // Clients reach the primary of view 0 at once and the backups' gossip a second later: until
  // then each backup holds none of a proposal's transactions and asks the primary for them
  // (ADR 0026), over a lossy, reordering network.
  SimOptions o;
  o.drop = 0.05;
  o.duplicate = 0.05;
  o.max_delay_ms = 30;
  o.full_pre_prepares_every = 0;
  std::uint64_t fetched = 0;
  ExpectSafeAndLive("n4-fetch", o, [&](SimCluster& c, std::mt19937_64& rng) {
    for (int i = 0; i < 6; ++i) {
      c.SubmitLate(5, 0, 1000);
      c.RunUntil(c.now() + rng() % 300);
    }
    c.RunUntil(4000);
    fetched += c.transactions_fetched();
  });
  CHECK(fetched > 0);
}

TEST_CASE(
    "n=4 a backup cut off while blocks prepare, then the primary crashes: the re-proposals' "
    "transactions are fetched",
    "[sim]") {
  // Replica 3 sees none of the proposals the others prepare; the primary goes down, so the new
  // view needs replica 3's votes for re-proposals whose transactions it never received: its
  // VIEW-CHANGE and the NEW-VIEW name them by header only (ADR 0040), and it asks for them.
  std::uint64_t fetched = 0;
  ExpectSafeAndLive("n4-fetch-reproposals", {}, [&](SimCluster& c, std::mt19937_64& rng) {
    c.Partition({3});
    SubmitOverTime(c, rng, 3, 5, 300);
    c.RunUntil(150 + rng() % 300);
    c.Crash(0);
    c.Heal();
    c.RunUntil(c.now() + 3000);
    fetched += c.proposals_fetched();
    c.Restart(0);
  });
  CHECK(fetched > 0);
}

TEST_CASE("n=4 a client signs each transaction twice and half the replicas hold each copy",
          "[sim]") {
  // One id, two valid copies: a backup whose copy is not the primary's fills a compact proposal
  // that does not match its root, and must ask for the primary's bytes (ADR 0038) instead of
  // refusing it, or no quorum forms on any block that holds such a transaction.
  SimOptions o;
  o.duplicate = 0.02;
  ExpectSafeAndLive("n4-double-signed", o, [](SimCluster& c, std::mt19937_64& rng) {
    std::vector<std::uint64_t> times;
    for (int i = 0; i < 6; ++i) times.push_back(rng() % 2000);
    std::sort(times.begin(), times.end());
    for (auto t : times) {
      c.RunUntil(t);
      if (rng() % 2) {
        c.SubmitDoubleSigned(3);
      } else {
        c.Submit(3);
      }
    }
    c.RunUntil(4000);
  });
}

TEST_CASE("n=4 lossy network: drops, duplicates and reordering, then heal", "[sim]") {
  SimOptions o;
  o.drop = 0.1;
  o.duplicate = 0.05;
  o.max_delay_ms = 60;
  ExpectSafeAndLive("n4-lossy", o, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 8, 5, 3000);
    c.RunUntil(6000);
  });
}

TEST_CASE("n=4 adaptive batching under loss, a primary crash and a partition", "[sim]") {
  SimOptions o;
  o.min_pipelined_batch = 4;  // as the node does (32 there; blocks here hold at most 10)
  o.drop = 0.05;
  o.max_delay_ms = 40;
  ExpectSafeAndLive("n4-batching", o, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 8, 5, 2000);
    c.RunUntil(300 + rng() % 500);
    c.Crash(0);
    c.RunUntil(c.now() + 1500 + rng() % 1000);
    c.Restart(0);
    c.Partition({static_cast<std::uint32_t>(1 + rng() % 3)});
    SubmitOverTime(c, rng, 4, 5, c.now() + 1000);
    c.RunUntil(c.now() + 2000 + rng() % 1000);
  });
}

TEST_CASE("n=4 batch wait: callers that send again after each commit, a primary crash", "[sim]") {
  SimOptions o;
  o.batch_wait_every = 1;  // every run (RunSeeds: 3 ms, min_pipelined_batch 4)
  o.drop = 0.02;
  o.max_delay_ms = 8;
  std::uint64_t waits = 0, timed_out = 0;
  ExpectSafeAndLive("n4-batch-wait", o, [&](SimCluster& c, std::mt19937_64& rng) {
    for (int round = 0; round < 30; ++round) {
      // Four callers, each sending one transaction a few milliseconds apart, then waiting until
      // replica 1 delivers a block (at most 300 ms: through the crash's view change).
      const std::uint64_t height = c.delivered_height(1);
      for (int i = 0; i < 4; ++i) {
        c.Submit(1);
        c.RunUntil(c.now() + rng() % 4);
      }
      const std::uint64_t until = c.now() + 300;
      while (c.delivered_height(1) == height && c.now() < until) c.RunUntil(c.now() + 1);
      if (round == 12) c.Crash(0);
      if (round == 24) c.Restart(0);
    }
    waits += c.batch_waits();
    timed_out += c.batch_waits_timed_out();
  });
  // Waits were taken, some ended by the callers' transactions and some by the timer.
  CHECK(timed_out > 0);
  CHECK(waits > timed_out);
}

TEST_CASE("n=4 primary crash and restart", "[sim]") {
  ExpectSafeAndLive("n4-primary-crash", {}, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 3, 5, 500);
    c.RunUntil(100 + rng() % 1400);
    c.Crash(0);
    SubmitOverTime(c, rng, 3, 5, c.now() + 1000);
    c.RunUntil(c.now() + 500 + rng() % 3000);
    c.Restart(0);
    c.RunUntil(c.now() + 2000);
  });
}

// Runs `name` with the crash of `crashed` (from view 0's primary on) once with the link hint
// (primary_link_timeout_ms 100) and once with links ignored, and counts the runs that delivered
// every transaction within `quick_ms` of the crash: all with the hint (through it), none without
// it.
void CheckQuickReplacement(const std::string& name, std::uint32_t n,
                           const std::vector<std::uint32_t>& crashed, std::uint64_t quick_ms) {
  for (const std::uint64_t link_timeout : {100, 0}) {
    SimOptions o;
    o.n = n;
    o.links_ignored_every = 0;
    o.primary_link_timeout_ms = link_timeout;
    std::uint64_t runs = 0, quick = 0;
    ExpectSafeAndLive(name + (link_timeout == 0 ? "-links-ignored" : ""), o,
                      [&](SimCluster& c, std::mt19937_64& rng) {
                        c.Submit(5);
                        c.RunUntil(50 + rng() % 300);
                        for (auto r : crashed) c.Crash(r);
                        const std::uint64_t at = c.now();
                        c.Submit(5);
                        ++runs;
                        // With the hint, quick and through it; without, quick at all.
                        if (c.RunUntilAllDelivered(at + quick_ms) &&
                            (link_timeout == 0 || c.view_changes_primary_link_down() > 0)) {
                          ++quick;
                        }
                        for (auto r : crashed) c.Restart(r);
                      });
    INFO(name << ", link timeout " << link_timeout << ": " << quick << " of " << runs
              << " runs quick");
    CHECK(quick == (link_timeout == 0 ? 0 : runs));
  }
}

TEST_CASE(
    "n=4 a crashed primary is replaced within its backups' link timeout, not two progress "
    "timeouts",
    "[sim]") {
  // The crash closes the backups' links to the primary (PeerLink): they change view after
  // primary_link_timeout_ms (100 ms here) instead of two view_timeout_ms (2 x 500 ms).
  CheckQuickReplacement("n4-primary-link-down", 4, {0}, 500);
}

TEST_CASE("n=7 the primary and the next one crash: both views are passed within link timeouts",
          "[sim]") {
  // View 1's primary is down too: once q replicas want view 1, its change moves on to view 2
  // after the link timeout instead of a doubled progress timeout (2 x 500 + 1,000 ms in all).
  CheckQuickReplacement("n7-two-primaries-link-down", 7, {0, 1}, 800);
}

TEST_CASE("n=4 links reset at random while the network works: the hint does no harm", "[sim]") {
  // A backup cut from its primary for a while changes view alone, and one whose link is back at
  // once may start a view change nobody needed; safety and liveness must hold regardless.
  std::uint64_t early = 0;
  ExpectSafeAndLive("n4-link-resets", {}, [&](SimCluster& c, std::mt19937_64& rng) {
    // A steady load (work always waiting), and a link reset every 300 ms on average.
    for (std::uint64_t t = 0; t < 2000; t += 25) {
      c.RunUntil(t);
      c.Submit(1 + rng() % 3);
      if (rng() % 12 != 0) continue;
      const auto a = static_cast<std::uint32_t>(rng() % 4);
      const auto b = static_cast<std::uint32_t>((a + 1 + rng() % 3) % 4);
      c.DropLink(a, b, rng() % 400);
    }
    c.RunUntil(3000);
    early += c.view_changes_primary_link_down();
  });
  CHECK(early > 0);  // the resets did reach primaries' links with work waiting
}

TEST_CASE("n=4 a replica crashes mid-action-list and restarts from what it persisted", "[sim]") {
  ExpectSafeAndLive("n4-crash-mid-actions", {}, [](SimCluster& c, std::mt19937_64& rng) {
    std::uint32_t victim = rng() % 4;
    SubmitOverTime(c, rng, 4, 5, 800);
    c.RunUntil(c.now() + rng() % 500);
    c.CrashMidActions(victim);
    c.RunUntil(c.now() + 300 + rng() % 2000);
    c.Restart(victim);
    SubmitOverTime(c, rng, 3, 5, c.now() + 500);
    c.RunUntil(c.now() + 2000);
  });
}

// A node tells API callers a block committed before its next synced save makes the block durable
// there (ADR 0024); a crash loses that unsynced tail. Each replica crashes within a few events of
// the others, so a height may be lost everywhere: the prepared certificates, synced before every
// COMMIT, must bring back the same block (the agreement check compares each delivery with the
// first one ever made at that height, lost or not). Returns the blocks lost over all seeds.
std::uint64_t ExpectPowerLossSafe(const std::string& name, std::uint32_t n) {
  SimOptions o;
  o.n = n;
  std::uint64_t lost = 0;
  ExpectSafeAndLive(name, o, [&lost, n](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 6, 5, 800);
    c.RunUntil(c.now() + rng() % 400);
    c.Submit(5);  // so that a block is on its way when the power goes
    for (std::uint32_t r = 0; r < n; ++r) {
      if (rng() % 4 == 0) {
        c.CrashMidActions(r);
      } else {
        c.CrashAfterNextDelivery(r);
      }
    }
    c.RunUntil(c.now() + rng() % 100);
    for (std::uint32_t r = 0; r < n; ++r) c.Crash(r);  // the ones still running
    for (std::uint32_t r = 0; r < n; ++r) c.Restart(r);
    SubmitOverTime(c, rng, 2, 5, c.now() + 300);
    c.RunUntil(c.now() + 2000);
    lost += c.lost_blocks();
  });
  return lost;
}

TEST_CASE("n=4 every replica loses power at once and answered blocks come back the same", "[sim]") {
  const std::uint64_t lost = ExpectPowerLossSafe("n4-power-loss", 4);
  INFO("blocks lost from block stores over all seeds: " << lost);
  CHECK(lost > 0);  // otherwise the schedules never exercised the loss
}

TEST_CASE("n=7 every replica loses power at once and answered blocks come back the same", "[sim]") {
  const std::uint64_t lost = ExpectPowerLossSafe("n7-power-loss", 7);
  INFO("blocks lost from block stores over all seeds: " << lost);
  CHECK(lost > 0);
}

TEST_CASE("n=4 primary crash during the view change", "[sim]") {
  // The old primary comes back while the view change runs and the next primary goes down, so at
  // most one replica is faulty at any moment.
  ExpectSafeAndLive("n4-crash-during-view-change", {}, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 3, 5, 500);
    c.RunUntil(200 + rng() % 500);
    c.Crash(0);
    c.RunUntil(c.now() + 400 + rng() % 300);  // the progress timer (500 ms) fires around here
    c.Restart(0);
    c.CrashMidActions(1);
    c.RunUntil(c.now() + 1000 + rng() % 2000);
    c.Restart(1);
    c.RunUntil(c.now() + 1000);
  });
}

TEST_CASE("n=7 the primary and the next primary are both down", "[sim]") {
  SimOptions o;
  o.n = 7;
  ExpectSafeAndLive("n7-two-primaries-down", o, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 3, 5, 500);
    c.RunUntil(100 + rng() % 800);
    c.Crash(0);
    c.Crash(1);
    SubmitOverTime(c, rng, 2, 5, c.now() + 500);
    c.RunUntil(c.now() + 3000 + rng() % 3000);
    c.Restart(0);
    c.Restart(1);
    c.RunUntil(c.now() + 1000);
  });
}

TEST_CASE("n=4 the primary is partitioned away, then the partition heals", "[sim]") {
  ExpectSafeAndLive("n4-partition-primary", {}, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 3, 5, 500);
    c.RunUntil(100 + rng() % 800);
    c.Partition({0});
    SubmitOverTime(c, rng, 3, 5, c.now() + 1000);
    c.RunUntil(c.now() + 2000 + rng() % 3000);
  });
}

TEST_CASE("n=4 a replica restarts in the middle of a view change", "[sim]") {
  ExpectSafeAndLive("n4-restart-mid-view-change", {}, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 3, 5, 400);
    c.RunUntil(100 + rng() % 300);
    c.Partition({0});  // forces a view change
    c.RunUntil(c.now() + 500 + rng() % 200);
    c.Heal();
    std::uint32_t victim = 1 + rng() % 3;
    c.CrashMidActions(victim);
    c.RunUntil(c.now() + 200 + rng() % 800);
    c.Restart(victim);
    c.RunUntil(c.now() + 2000);
  });
}

TEST_CASE("n=4 two replicas rebuilt in an idle network, then a third goes down", "[sim]") {
  // Found by an outside fault run: two validators rebuilt from empty data directories came back
  // in view 0 while the other two stayed in a later view, and nothing in an idle network told
  // them. With one of the two others then down, the rebuilt ones asked for view 1 and the last
  // one, whose own timer had moved it on, for its view + 1: none had a quorum, and it was in a
  // view change itself, so it did not pass the laggers the NEW-VIEW of its view.
  ExpectSafeAndLive("n4-two-rebuilt-then-crash", {}, [](SimCluster& c, std::mt19937_64& rng) {
    SubmitOverTime(c, rng, 2, 4, 300);
    for (int i = 0; i < 3; ++i) {  // a few view changes: the primary of the view cut off in turn
      c.RunUntil(c.now() + 300);
      c.Partition({static_cast<std::uint32_t>(c.max_view() % 4)});
      c.Submit(2);
      c.RunUntil(c.now() + 3000);
      c.Heal();
    }
    c.RunUntil(c.now() + 4000);  // everything delivered: the network idles in one view
    std::vector<std::uint32_t> order{0, 1, 2, 3};
    std::shuffle(order.begin(), order.end(), rng);
    c.RestartWithoutConsensusLog(order[0]);
    c.RestartWithoutConsensusLog(order[1]);
    c.RunUntil(c.now() + 1000 + rng() % 3000);
    c.Crash(order[2]);  // stays down: the other three must go on
    c.Submit(4);
    c.RunUntil(c.now() + 5000);
  });
}

TEST_CASE("n=4 a replica misses many heights and catches up from certificates", "[sim]") {
  SimOptions o;
  o.checkpoint_interval = 4;
  ExpectSafeAndLive("n4-catch-up", o, [](SimCluster& c, std::mt19937_64& rng) {
    std::uint32_t victim = 1 + rng() % 3;
    c.Partition({victim});
    SubmitOverTime(c, rng, 12, 8, 4000);  // dozens of heights, several checkpoints
    c.RunUntil(6000);
  });
}

}  // namespace
}  // namespace ertr::sim

namespace ertr::sim {
namespace {

TEST_CASE("n=4 a replica restarts mid-view-change while another stays silent", "[sim]") {
  // With one replica permanently silent, the view change needs every other replica's
  // VIEW-CHANGE: one that crashed before its VIEW-CHANGE left must send it after restarting.
  ExpectSafeAndLive("n4-restart-mid-vc-silent", {}, [](SimCluster& c, std::mt19937_64& rng) {
    c.SetByzantine(0, Byzantine::kSilent);
    SubmitOverTime(c, rng, 3, 5, 300);
    c.RunUntil(900 + rng() % 200);  // around the second timer expiry: the view change starts
    std::uint32_t victim = 1 + rng() % 3;
    c.CrashMidActions(victim);
    c.RunUntil(c.now() + 100 + rng() % 1500);
    c.Restart(victim);
    c.RunUntil(c.now() + 2000);
  });
}

}  // namespace
}  // namespace ertr::sim
