// StateServer: what a node holds and answers for state transfer (ADR 0037), on a memory store.

#include <catch2/catch.hpp>

#include "node/state_server.h"
#include "proto/consensus_codec.h"
#include "storage/state_pages.h"
#include "storage/stores.h"
#include "tests/storage/store_fixture.h"

namespace ertr::node {
namespace {

using Clock = StateServer::Clock;
using std::chrono::seconds;

// A store whose every block writes a few entries of its own and changes one shared entry.
struct Chain {
  storage::LedgerStores stores = storage::MakeMemoryStores();
  std::uint64_t height = 0;

  // Appends blocks up to `h` and returns the snapshot after block h.
  std::shared_ptr<const storage::StateSnapshot> To(std::uint64_t h) {
    while (height < h) {
      ++height;
      StateDelta d;
      for (int i = 0; i < 3; ++i) {
        d.Put(ToBytes("r/" + std::to_string(height) + "/" + std::to_string(i)),
              Bytes(50 + height, static_cast<std::uint8_t>(i)));
      }
      d.Put(ToBytes("c/time"), ToBytes(std::to_string(height)));
      REQUIRE(stores.blocks->Append(testing::MakeBlock(height, 0), d).ok());
    }
    auto s = stores.state->Snapshot();
    REQUIRE(s.ok());
    REQUIRE((*s)->height() == Height(h));
    return *s;
  }
};

consensus::CheckpointProof ProofOf(const storage::StateSnapshot& s) {
  // The server does not check signatures (the replica did); one made-up checkpoint will do.
  return {s.height(), s.root(), {{s.height(), s.root(), ReplicaId(1), crypto::Signature()}}};
}

proto::PeerStatePageRequest Ask(std::uint64_t h, Bytes after = {},
                                std::uint32_t max = proto::kMaxStatePageBytes) {
  return {Height(h), std::move(after), max};
}

TEST_CASE("the state server serves the newest stable checkpoint's state, page by page",
          "[unit][node]") {
  Chain chain;
  StateServer server;
  const auto t0 = Clock::now();
  CHECK(server.proof().empty());
  auto s64 = chain.To(64);
  server.AddSnapshot(s64);
  // Not stable yet: nothing is served.
  CHECK(server.proof().empty());
  auto early = server.Page(Ask(64), t0);
  REQUIRE(early.ok());
  CHECK(early->not_held);
  auto s128 = chain.To(128);  // block 65.. changed the state after the snapshot at 64
  REQUIRE(s128->root() != s64->root());
  server.AddSnapshot(s128);
  CHECK(server.snapshots() == 2);

  REQUIRE(server.OnStable(ProofOf(*s64), t0) == StateServer::Stable::kServed);
  auto proof = proto::DecodeCheckpointProof(server.proof());
  REQUIRE(proof.ok());
  CHECK(proof->height == Height(64));
  CHECK(proof->state_root == s64->root());

  // Its pages, read as an asker reads them, rebuild the root at 64, not the store's.
  storage::StateRootBuilder builder;
  std::size_t pages = 0;
  for (bool more = true; more; ++pages) {
    auto page = server.Page(Ask(64, builder.last_key().value_or(Bytes{}), 1000), t0);
    REQUIRE(page.ok());
    REQUIRE_FALSE(page->not_held);
    CHECK(page->height == Height(64));
    CHECK(page->after_key == builder.last_key().value_or(Bytes{}));
    for (const auto& [k, v] : page->entries) REQUIRE(builder.Add(k, v).ok());
    more = page->more;
  }
  CHECK(builder.entries() == 64 * 3 + 1);
  CHECK(builder.Root() == s64->root());
  CHECK(pages > 10);
  CHECK(server.pages_served() == pages);
  // Asked again from the start (another asker), and beyond the last key (none honest does).
  auto again = server.Page(Ask(64, {}, 1000), t0);
  REQUIRE(again.ok());
  CHECK(again->entries.front().first == ToBytes("c/time"));
  auto beyond = server.Page(Ask(64, ToBytes("zz")), t0);
  REQUIRE(beyond.ok());
  CHECK(beyond->not_held);
  CHECK(server.Page(Ask(128), t0)->not_held);
  CHECK(server.Page(Ask(63), t0)->not_held);

  // A newer stable checkpoint is served from then on; the older one while it is read.
  REQUIRE(server.OnStable(ProofOf(*s128), t0 + seconds(1)) == StateServer::Stable::kServed);
  CHECK(proto::DecodeCheckpointProof(server.proof())->height == Height(128));
  CHECK_FALSE(server.Page(Ask(64), t0 + seconds(50))->not_held);
  server.Expire(t0 + seconds(100));  // 50 s after its last page
  CHECK_FALSE(server.Page(Ask(64), t0 + seconds(100))->not_held);
  server.Expire(t0 + seconds(160));  // 60 s without one
  CHECK(server.Page(Ask(64), t0 + seconds(160))->not_held);
  // The newest is kept however long it is not asked for.
  server.Expire(t0 + seconds(100000));
  CHECK_FALSE(server.Page(Ask(128), t0 + seconds(100000))->not_held);
  CHECK(server.snapshots() == 1);
}

TEST_CASE("the state server holds few snapshots and serves none that is not certified",
          "[unit][node]") {
  Chain chain;
  StateServer server;
  const auto now = Clock::now();
  std::vector<std::shared_ptr<const storage::StateSnapshot>> taken;
  for (std::uint64_t h = 8; h <= 48; h += 8) {
    taken.push_back(chain.To(h));
    server.AddSnapshot(taken.back());
  }
  // Checkpoints not yet stable: the newest kMaxPending.
  CHECK(server.snapshots() == StateServer::kMaxPending);
  // The oldest were dropped: no snapshot at 8 any more.
  CHECK(server.OnStable(ProofOf(*taken[0]), now) == StateServer::Stable::kNoSnapshot);
  CHECK(server.proof().empty());
  // A snapshot whose root is not the certified one (this node's state diverged) is not served,
  // and a stable checkpoint drops the pending ones at or below it.
  auto wrong = ProofOf(*taken[3]);  // height 32
  wrong.state_root = taken[4]->root();
  CHECK(server.OnStable(wrong, now) == StateServer::Stable::kRootDiffers);
  CHECK(server.proof().empty());
  CHECK(server.Page(Ask(32), now)->not_held);
  CHECK(server.snapshots() == 2);  // 40 and 48
  REQUIRE(server.OnStable(ProofOf(*taken[5]), now) == StateServer::Stable::kServed);
  CHECK(server.snapshots() == 1);  // 40 went with it
  // One older than the newest served can never be served: not kept.
  server.AddSnapshot(taken[4]);
  CHECK(server.snapshots() == 1);
  // At most kMaxServed are served; the oldest goes first.
  for (std::uint64_t h = 56; h <= 72; h += 8) {
    auto s = chain.To(h);
    server.AddSnapshot(s);
    REQUIRE(server.OnStable(ProofOf(*s), now) == StateServer::Stable::kServed);
  }
  CHECK(server.snapshots() == StateServer::kMaxServed);
  CHECK(server.Page(Ask(56), now)->not_held);
  CHECK_FALSE(server.Page(Ask(64), now)->not_held);
  CHECK_FALSE(server.Page(Ask(72), now)->not_held);
}

}  // namespace
}  // namespace ertr::node
