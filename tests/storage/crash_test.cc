// Crash test (issue 2): a child process appending blocks and writing blobs is killed with SIGKILL
// at random points, at least 200 times; after each kill the stores are reopened and checked:
// no torn block, no partial blob, height matches state, the state root matches the content.

#include <catch2/catch.hpp>

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>

#include <random>
#include <set>

#include "crypto/lthash.h"
#include "storage/blob_store.h"
#include "storage/stores.h"
#include "tests/storage/crash_workload.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace ertr::storage {
namespace {

pid_t Spawn(const std::filesystem::path& dir) {
  std::string exe = ERTR_CRASH_CHILD;
  std::string arg = dir.string();
  char* argv[] = {exe.data(), arg.data(), nullptr};
  pid_t pid = 0;
  REQUIRE(posix_spawn(&pid, exe.c_str(), nullptr, nullptr, argv, environ) == 0);
  return pid;
}

void SleepMicros(long us) {
  timespec ts{us / 1'000'000, (us % 1'000'000) * 1000};
  nanosleep(&ts, nullptr);
}

// Checks every invariant of the stores in `dir`; returns the height found. Blocks and blobs seen
// whole before are not re-read (published data is immutable), except the newest few blocks.
std::uint64_t CheckConsistent(const std::filesystem::path& dir, std::uint64_t verified_height,
                              std::set<crypto::Digest>& verified_blobs) {
  auto stores = OpenRocksDbStores(dir / "db");
  REQUIRE(stores.has_value());
  auto blobs = OpenFileBlobStore(dir / "blobs");
  REQUIRE(blobs.has_value());
  std::uint64_t h = stores->blocks->LatestHeight().value();
  for (std::uint64_t i = verified_height > 3 ? verified_height - 3 : 1; i <= h; ++i) {
    auto b = stores->blocks->LoadBlock(Height(i));
    REQUIRE(b.has_value());
    auto want = testing::CrashBlock(i);
    REQUIRE(b->header == want.header);
    REQUIRE(b->body == want.body);
    REQUIRE(b->certificate == want.certificate);
    REQUIRE(stores->blocks->FindTransaction(want.tx_hashes[0])->height == Height(i));
  }
  REQUIRE_FALSE(stores->blocks->LoadBlock(Height(h + 1)).has_value());
  // Height matches state.
  auto sh = stores->state->Get(AsBytes("height"));
  REQUIRE(sh.has_value());
  if (h == 0) {
    REQUIRE_FALSE(sh->has_value());
  } else {
    REQUIRE(sh->has_value());
    REQUIRE(**sh == ToBytes(std::to_string(h)));
  }
  // The stored root equals the root recomputed from the content, and every block's blob that the
  // state still references is whole.
  crypto::LtHash16 acc;
  std::size_t entries = 0;
  REQUIRE(stores->state
              ->ScanPrefix({},
                           [&](ByteSpan k, ByteSpan v) {
                             acc.AddEntry(k, v);
                             ++entries;
                             return true;
                           })
              .ok());
  REQUIRE(acc.Root() == stores->state->StateRoot());
  for (std::uint64_t i = (h > 3 ? h - 2 : 1); i <= h; ++i) {
    auto ref = stores->state->Get(ToBytes("blob/" + std::to_string(i)));
    REQUIRE(ref.has_value());
    REQUIRE(ref->has_value());
    auto d = crypto::Digest::FromSpan(**ref, "blob ref");
    REQUIRE(d.has_value());
    REQUIRE(*d == crypto::Hash(testing::CrashBlobContent(i)));
    REQUIRE((*blobs)->Verify(*d).ok());
  }
  // No partial blob is ever visible: everything published verifies.
  auto all = (*blobs)->List();
  REQUIRE(all.has_value());
  for (const auto& d : *all) {
    if (verified_blobs.count(d)) continue;
    REQUIRE((*blobs)->Verify(d).ok());
    verified_blobs.insert(d);
  }
  REQUIRE(std::filesystem::is_empty(dir / "blobs" / "tmp"));  // partial writes were cleaned up
  return h;
}

TEST_CASE("Stores stay consistent across 200 SIGKILLs at random points", "[storage][slow]") {
  testing::TempDir dir("ertr-crash");
  std::mt19937 rng(20261125);
  std::uint64_t last = 0;
  int progressed = 0;
  std::set<crypto::Digest> verified_blobs;
  constexpr int kKills = 200;
  for (int i = 0; i < kKills; ++i) {
    pid_t pid = Spawn(dir.path());
    SleepMicros(static_cast<long>(5'000 + rng() % 60'000));
    ::kill(pid, SIGKILL);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    // It must have died by our signal, not failed by itself.
    INFO("kill " << i << ": child exit status " << status);
    REQUIRE(WIFSIGNALED(status));
    std::uint64_t h = CheckConsistent(dir.path(), last, verified_blobs);
    REQUIRE(h >= last);  // nothing committed is ever lost
    if (h > last) ++progressed;
    last = h;
  }
  // The kills landed while blocks were being written, not only before the first.
  CHECK(progressed > kKills / 4);
  CHECK(last > 100);
}

}  // namespace
}  // namespace ertr::storage
