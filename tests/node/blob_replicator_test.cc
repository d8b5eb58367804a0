// Two blob replicators wired to each other directly (no network): replication by chunks,
// digest checking, refusal of seeks and of a changing total size, erasure.

#include <catch2/catch.hpp>

#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <set>
#include <tuple>

#include "crypto/secure_buffer.h"
#include "crypto/sha256.h"
#include "node/blob_replicator.h"
#include "tests/support/temp_dir.h"

namespace ertr::node {
namespace {

// Counts SyncPending calls, forwards everything to the node's real store.
class CountingStore final : public storage::BlobStore {
 public:
  explicit CountingStore(std::unique_ptr<storage::BlobStore> inner) : inner_(std::move(inner)) {}
  Result<std::unique_ptr<storage::BlobWriter>> Create(
      std::optional<crypto::Digest> expected) override {
    return inner_->Create(expected);
  }
  Result<std::unique_ptr<storage::BlobReader>> Open(const crypto::Digest& d) const override {
    return inner_->Open(d);
  }
  bool Contains(const crypto::Digest& d) const override { return inner_->Contains(d); }
  Result<std::uint64_t> Size(const crypto::Digest& d) const override { return inner_->Size(d); }
  Status Delete(const crypto::Digest& d) override { return inner_->Delete(d); }
  Result<std::vector<storage::ListedBlob>> List() const override { return inner_->List(); }
  Status SyncPending() override {
    ++syncs;
    return inner_->SyncPending();
  }
  int syncs = 0;

 private:
  std::unique_ptr<storage::BlobStore> inner_;
};

struct Side {
  std::unique_ptr<storage::BlobStore> store;
  CountingStore* counting = nullptr;  // the store, when it counts syncs
  std::unique_ptr<BlobReplicator> replicator;
  std::set<crypto::Digest> erased;
  std::vector<crypto::Digest> available;
  // Whether a record this side knows names a digest (hooks.is_referenced, in a Mesh); unset: all.
  std::function<bool(const crypto::Digest&)> referenced;
  // The size a record committed here names for a digest (hooks.committed_size, in a Mesh);
  // unset: none.
  std::function<std::optional<std::uint64_t>(const crypto::Digest&)> committed;
};

struct Pair {
  testing::TempDir dir;
  Side a, b;                                            // replica ids 0 and 1
  std::deque<std::pair<int, proto::PeerMessage>> wire;  // (destination, message)
  // With `grouped`: the node's stores (small blobs in RocksDB) and deferred publication, whose
  // tasks wait here until RunDeferred.
  bool grouped = false;
  std::vector<std::function<void()>> deferred;
  // With `background`: syncs handed to the node's sync thread wait here until RunBackground.
  bool background = false;
  std::vector<std::pair<std::function<Status()>, std::function<void(const Status&)>>> syncs;
  // Bytes free on b's disk (hooks.free_bytes); unset: not known.
  std::function<std::optional<std::uint64_t>()> b_free;
  // Whether b knows a record naming a digest (hooks.is_referenced); unset: every digest.
  std::function<bool(const crypto::Digest&)> b_referenced;
  // The size a record committed at b names for a digest (hooks.committed_size); unset: none.
  std::function<std::optional<std::uint64_t>(const crypto::Digest&)> b_committed;
  // Which of a's messages its full send queue drops (hooks.send answers false); unset: none.
  std::function<bool(const proto::PeerMessage&)> a_drops;

  explicit Pair(bool grouped_syncs = false, bool background_syncs = false)
      : grouped(grouped_syncs), background(background_syncs) {
    Make(a, 0, "a");
    Make(b, 1, "b");
    a.replicator->OnPeerConnected(ReplicaId(1));
    b.replicator->OnPeerConnected(ReplicaId(0));
    RunBackground();  // the listings on connecting (of empty stores: nothing sent)
  }
  void Make(Side& s, int self, const std::string& name) {
    auto store =
        grouped ? storage::OpenBlobStore(dir / name) : storage::OpenFileBlobStore(dir / name);
    REQUIRE(store.has_value());
    s.store = std::move(*store);
    if (grouped) {
      auto counting = std::make_unique<CountingStore>(std::move(s.store));
      s.counting = counting.get();
      s.store = std::move(counting);
    }
    BlobReplicator::Hooks hooks;
    hooks.send = [this, self](std::optional<ReplicaId>, const proto::PeerMessage& m) {
      if (self == 0 && a_drops && a_drops(m)) return false;  // a's send queue is full
      wire.emplace_back(1 - self, m);
      return true;
    };
    hooks.is_erased = [&s](const crypto::Digest& d) { return s.erased.count(d) > 0; };
    hooks.on_available = [&s](const crypto::Digest& d) { s.available.push_back(d); };
    if (grouped) hooks.defer = [this](std::function<void()> task) { deferred.push_back(task); };
    if (self == 1) {
      hooks.free_bytes = [this]() -> std::optional<std::uint64_t> {
        return b_free ? b_free() : std::nullopt;
      };
      hooks.is_referenced = [this](const crypto::Digest& d) {
        return !b_referenced || b_referenced(d);
      };
      hooks.committed_size = [this](const crypto::Digest& d) -> std::optional<std::uint64_t> {
        return b_committed ? b_committed(d) : std::nullopt;
      };
    }
    if (background) {
      hooks.sync_in_background = [this](std::function<Status()> sync,
                                        std::function<void(const Status&)> then) {
        syncs.emplace_back(std::move(sync), std::move(then));
      };
      hooks.in_background = [this](std::function<void()> work, std::function<void()> then) {
        syncs.emplace_back(
            [work = std::move(work)] {
              work();
              return Status::Ok();
            },
            [then = std::move(then)](const Status&) { then(); });
      };
    }
    s.replicator = std::make_unique<BlobReplicator>(
        *s.store, 2, std::move(hooks),
        std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()));
  }
  // An upload at a, written unsynced and then announced as its record's submission does
  // (UploadCall, then AnnounceUnsynced); its digest.
  crypto::Digest UploadAtA(const Bytes& blob) {
    auto writer = a.store->Create();
    REQUIRE(writer.has_value());
    REQUIRE((*writer)->Write(blob).ok());
    auto d = (*writer)->CommitUnsynced();
    REQUIRE(d.has_value());
    a.replicator->AnnounceUnsynced(*d);
    return *d;
  }
  // Runs the deferred publications queued so far (the node: its io thread's next turn).
  void RunDeferred() {
    auto tasks = std::move(deferred);
    deferred.clear();
    for (auto& t : tasks) t();
  }
  // Runs the background syncs started so far, each followed by its completion (the node: on its
  // io thread once the sync thread is done).
  void RunBackground() {
    auto pending = std::move(syncs);
    syncs.clear();
    for (auto& [sync, then] : pending) then(sync());
  }
  // Delivers queued messages, optionally rewriting them in flight.
  void Run(const std::function<void(proto::PeerMessage&)>& tamper = {}) {
    for (int steps = 0; !wire.empty() && steps < 10000; ++steps) {
      auto [to, m] = std::move(wire.front());
      wire.pop_front();
      if (tamper) tamper(m);
      Side& s = to == 0 ? a : b;
      const ReplicaId from(static_cast<std::uint32_t>(1 - to));
      std::visit(
          [&](const auto& msg) {
            using T = std::decay_t<decltype(msg)>;
            if constexpr (std::is_same_v<T, proto::PeerBlobHave>) s.replicator->OnHave(from, msg);
            if constexpr (std::is_same_v<T, proto::PeerBlobRequest>)
              s.replicator->OnRequest(from, msg);
            if constexpr (std::is_same_v<T, proto::PeerBlobChunk>) s.replicator->OnChunk(from, msg);
          },
          m);
    }
  }
};

Bytes RandomBlob(std::size_t n) {
  Bytes b(n);
  crypto::RandomBytes(b);
  return b;
}

TEST_CASE("a blob replicates by chunks and becomes available at f+1 holders", "[unit][node]") {
  Pair p;
  const Bytes blob = RandomBlob(3 * kBlobChunkBytes + 777);
  auto digest = p.a.replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  CHECK_FALSE(p.a.replicator->IsAvailable(*digest));  // one holder of the two needed
  p.Run();
  CHECK(p.b.store->Contains(*digest));
  CHECK(p.a.replicator->IsAvailable(*digest));
  CHECK(p.a.available == std::vector<crypto::Digest>{*digest});
  // The puller learns it too: its own copy plus the uploader's make f+1 (a record transaction
  // gated there waits for exactly this).
  CHECK(p.b.replicator->IsAvailable(*digest));
  CHECK(p.b.available == std::vector<crypto::Digest>{*digest});
  CHECK(p.b.replicator->stats().bytes_received == blob.size());
  CHECK(p.a.replicator->stats().bytes_served == blob.size());
  auto copy = storage::GetBlob(*p.b.store, *digest);
  REQUIRE(copy.has_value());
  CHECK(*copy == blob);
}

TEST_CASE("a chunk the holder could not send makes the puller start again at once",
          "[unit][node]") {
  // The holder's send queue to the puller is full for one chunk. Its serving session ends there;
  // the puller's next request (at an offset the holder no longer serves) is told "not held" at
  // once, instead of going unanswered until the pull stalls (10 s), and the next pull gets it.
  Pair p;
  const Bytes blob = RandomBlob(3 * kBlobChunkBytes + 777);
  int chunks = 0;
  p.a_drops = [&](const proto::PeerMessage& m) {
    const auto* c = std::get_if<proto::PeerBlobChunk>(&m);
    return c != nullptr && !c->data.empty() && ++chunks == 2;  // the second chunk
  };
  auto digest = p.a.replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  p.Run();
  CHECK(p.b.replicator->stats().pulls_failed == 1);
  CHECK_FALSE(p.b.store->Contains(*digest));
  // With nothing left on the wire, the next pull (a tick, or the holder's next announcement)
  // takes the whole blob from the start.
  p.b.replicator->OnHave(ReplicaId(0), proto::PeerBlobHave{{*digest}, {blob.size()}});
  p.Run();
  CHECK(p.b.store->Contains(*digest));
  auto copy = storage::GetBlob(*p.b.store, *digest);
  REQUIRE(copy.has_value());
  CHECK(*copy == blob);
}

TEST_CASE("holders count toward a record only at the size they announce", "[unit][node]") {
  Pair p;
  bool pull = false;
  p.b_referenced = [&](const crypto::Digest&) { return pull; };
  const Bytes blob = RandomBlob(kBlobChunkBytes + 10);
  const std::uint64_t size = blob.size();
  auto digest = p.a.replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  // The announcement says the size.
  REQUIRE(p.wire.size() == 1);
  const auto* have = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(have != nullptr);
  CHECK(have->digests == std::vector<crypto::Digest>{*digest});
  CHECK(have->sizes == std::vector<std::uint64_t>{size});
  p.Run();  // b hears of it, and does not pull it (no record names it there yet)
  BlobReplicator& b = *p.b.replicator;
  CHECK(b.Holders(*digest) == 1);
  CHECK(b.Holders(*digest, size) == 1);
  CHECK(b.Holders(*digest, size + 1) == 0);
  CHECK(p.a.replicator->Holders(*digest, size) == 1);  // its own copy, at its size
  CHECK(p.a.replicator->Holders(*digest, size - 1) == 0);
  // Pulled: both copies count for the blob's size, neither for another.
  pull = true;
  b.OnHave(ReplicaId(0), proto::PeerBlobHave{{*digest}, {size}});
  p.Run();
  REQUIRE(p.b.store->Contains(*digest));
  CHECK(b.IsAvailable(*digest, size));
  CHECK_FALSE(b.IsAvailable(*digest, size + 1));
  CHECK(b.IsAvailable(*digest));  // counting holders of any size
  CHECK(p.a.replicator->IsAvailable(*digest, size));
  CHECK_FALSE(p.a.replicator->IsAvailable(*digest, 2 * size));
  CHECK(p.b.available == std::vector<crypto::Digest>{*digest});
  // A holder that announces another size is not counted for this one (a faulty peer's claim).
  const auto other = crypto::Sha256(Bytes{9});
  b.OnHave(ReplicaId(0), proto::PeerBlobHave{{other}, {77}});
  CHECK(b.Holders(other, 77) == 1);
  CHECK(b.Holders(other, 78) == 0);
  b.OnHave(ReplicaId(0), proto::PeerBlobHave{{other}, {78}});  // its latest word counts
  CHECK(b.Holders(other, 77) == 0);
  CHECK(b.Holders(other, 78) == 1);
  // An older node gives no size: counted for any.
  b.OnHave(ReplicaId(0), proto::PeerBlobHave{{other}});
  CHECK(b.Holders(other, 77) == 1);
  CHECK(b.Holders(other, 78) == 1);
  // The node is told to look again (on_available) whenever a holder is counted and those of its
  // size reach f+1, not only the first time any two holders are known.
  const auto third = crypto::Sha256(Bytes{10});
  p.b.available.clear();
  b.OnHave(ReplicaId(2), proto::PeerBlobHave{{third}, {50}});
  b.OnHave(ReplicaId(3), proto::PeerBlobHave{{third}, {51}});  // two holders, of two sizes
  CHECK(p.b.available.empty());
  CHECK_FALSE(b.IsAvailable(third, 50));
  b.OnHave(ReplicaId(4), proto::PeerBlobHave{{third}, {51}});
  CHECK(p.b.available == std::vector<crypto::Digest>{third});
  CHECK(b.IsAvailable(third, 51));
  CHECK_FALSE(b.IsAvailable(third, 50));
  b.OnHave(ReplicaId(4), proto::PeerBlobHave{{third}, {51}});  // said again: nothing new
  CHECK(p.b.available.size() == 1);
  b.OnHave(ReplicaId(5), proto::PeerBlobHave{{third}});  // an older node: counted for 51 too
  CHECK(p.b.available.size() == 2);
  CHECK(b.Holders(third, 50) == 2);
  // On (re)connecting, a node lists every blob it holds with its size.
  p.wire.clear();
  b.OnPeerConnected(ReplicaId(0));
  REQUIRE_FALSE(p.wire.empty());
  const auto* listed = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(listed != nullptr);
  CHECK(listed->digests == std::vector<crypto::Digest>{*digest});
  CHECK(listed->sizes == std::vector<std::uint64_t>{size});
  // So does a small upload, announced once its group is synced.
  Pair grouped(true);
  const Bytes small = RandomBlob(300);
  const auto small_digest = grouped.UploadAtA(small);
  grouped.RunDeferred();
  REQUIRE(grouped.wire.size() == 1);
  const auto* published = std::get_if<proto::PeerBlobHave>(&grouped.wire.front().second);
  REQUIRE(published != nullptr);
  CHECK(published->digests == std::vector<crypto::Digest>{small_digest});
  CHECK(published->sizes == std::vector<std::uint64_t>{small.size()});
}

TEST_CASE("a pull waits while its blob would not fit above the disk reserve, then goes on",
          "[unit][node]") {
  Pair p;
  const Bytes blob = RandomBlob(3 * kBlobChunkBytes + 777);
  std::uint64_t free = kDiskReserveBytes + blob.size() - 1;  // one byte short
  p.b_free = [&]() -> std::optional<std::uint64_t> { return free; };
  auto digest = p.a.replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  p.Run();
  // The first chunk tells the size: nothing is written, the holder is not blamed.
  CHECK_FALSE(p.b.store->Contains(*digest));
  CHECK(p.b.replicator->pulls_waiting_for_disk() == 1);
  CHECK(p.b.replicator->WaitingForDisk(*digest) == blob.size());
  CHECK(p.b.replicator->stats().pulls_deferred_for_disk == 1);
  CHECK(p.b.replicator->stats().pulls_failed == 0);
  CHECK(p.b.replicator->stats().bytes_received == 0);
  CHECK(p.b.replicator->active_pulls() == 0);
  CHECK(std::filesystem::is_empty(p.dir / "b" / "tmp"));
  const std::uint64_t served = p.a.replicator->stats().bytes_served;
  CHECK(served <= kPullWindowChunks * kBlobChunkBytes);  // no more than the first window
  // Still no room: a tick asks for nothing.
  p.b.replicator->Tick();
  CHECK(p.wire.empty());
  // Space freed: the pull starts again and completes. Then the disk fills while a second blob is
  // pulled: it stops at the chunk whose rest no longer fits, and its partial file is removed.
  free = kDiskReserveBytes + blob.size();
  p.b.replicator->Tick();
  p.Run();
  REQUIRE(p.b.store->Contains(*digest));
  CHECK(p.b.replicator->pulls_waiting_for_disk() == 0);
  CHECK_FALSE(p.b.replicator->WaitingForDisk(*digest).has_value());
  CHECK(*storage::GetBlob(*p.b.store, *digest) == blob);
  CHECK(p.a.replicator->IsAvailable(*digest));

  const Bytes second = RandomBlob(4 * kBlobChunkBytes);
  free = kDiskReserveBytes + second.size();
  p.b_free = [&]() -> std::optional<std::uint64_t> {
    return free - p.b.replicator->stats().bytes_received + blob.size() -
           (p.b.replicator->stats().bytes_received > blob.size() ? kBlobChunkBytes : 0);
  };
  auto digest2 = p.a.replicator->StoreLocal(second);
  REQUIRE(digest2.has_value());
  p.Run();
  CHECK_FALSE(p.b.store->Contains(*digest2));
  CHECK(p.b.replicator->stats().bytes_received == blob.size() + kBlobChunkBytes);
  // It waits for its whole size: the pull starts again from its beginning.
  CHECK(p.b.replicator->WaitingForDisk(*digest2) == second.size());
  CHECK(std::filesystem::is_empty(p.dir / "b" / "tmp"));
  CHECK(p.b.replicator->stats().pulls_failed == 0);
  p.b_free = [&]() -> std::optional<std::uint64_t> {
    return kDiskReserveBytes + second.size() + kBlobChunkBytes;
  };
  CHECK_FALSE(p.b.replicator->WaitingForDisk(*digest2).has_value());  // fits now
  p.b.replicator->Tick();
  p.Run();
  CHECK(p.b.store->Contains(*digest2));
  CHECK(p.b.replicator->pulls_waiting_for_disk() == 0);
  // A small blob sent along with its record is not taken without room either.
  p.b_free = [&]() -> std::optional<std::uint64_t> { return kDiskReserveBytes + 1000; };
  const Bytes small = RandomBlob(2048);
  CHECK_FALSE(p.b.replicator->Accept(crypto::Sha256(small), small, ReplicaId(0)));
  CHECK_FALSE(p.b.store->Contains(crypto::Sha256(small)));
}

TEST_CASE("an announced blob is pulled only for a record that names it", "[unit][node]") {
  Pair p;
  std::set<crypto::Digest> records;  // the digests b's known records name
  p.b_referenced = [&](const crypto::Digest& d) { return records.count(d) > 0; };
  const Bytes blob = RandomBlob(kBlobChunkBytes + 10);
  auto named = crypto::Sha256(blob);
  records.insert(named);
  const Bytes junk = RandomBlob(kBlobChunkBytes + 10);
  REQUIRE(p.a.replicator->StoreLocal(blob).has_value());
  auto unnamed = p.a.replicator->StoreLocal(junk);
  REQUIRE(unnamed.has_value());
  p.Run();
  CHECK(p.b.store->Contains(named));
  CHECK_FALSE(p.b.store->Contains(*unnamed));
  CHECK(p.a.replicator->stats().bytes_served == blob.size());
  // Its holder is known all the same: availability counts it, and a record that arrives later
  // pulls it (the node's Fetch of a gated record)...
  CHECK(p.b.replicator->Holders(*unnamed) == 1);
  records.insert(*unnamed);
  CHECK(p.b.replicator->Fetch(*unnamed));
  p.Run();
  CHECK(p.b.store->Contains(*unnamed));
  // ...and so does its commit (Settle), even with no holder connected when it commits.
  const Bytes third = RandomBlob(100);
  auto late = p.a.replicator->StoreLocal(third);
  REQUIRE(late.has_value());
  p.Run();
  CHECK_FALSE(p.b.store->Contains(*late));
  p.b.replicator->OnPeerDisconnected(ReplicaId(0));
  p.b.replicator->Settle(*late);
  p.Run();
  CHECK_FALSE(p.b.store->Contains(*late));
  p.b.replicator->OnPeerConnected(ReplicaId(0));
  p.a.replicator->OnPeerConnected(ReplicaId(1));  // a announces what it holds to b again
  p.Run();
  CHECK(p.b.store->Contains(*late));
}

TEST_CASE("a blob whose record expired unpulled is no longer pulled, unless a record commits",
          "[unit][node]") {
  Pair p;
  bool named = true;
  p.b_referenced = [&](const crypto::Digest&) { return named; };
  std::uint64_t free = kDiskReserveBytes;  // no room: the pull waits
  p.b_free = [&]() -> std::optional<std::uint64_t> { return free; };
  const Bytes blob = RandomBlob(2 * kBlobChunkBytes);
  auto digest = p.a.replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  p.Run();
  CHECK(p.b.replicator->pulls_waiting_for_disk() == 1);
  // Its gated record expires (the node: Tick's record_dropped): it waits no more.
  named = false;
  p.b.replicator->Abandon(*digest);
  CHECK(p.b.replicator->pulls_waiting_for_disk() == 0);
  free = kDiskReserveBytes + blob.size();
  p.b.replicator->Tick();
  p.Run();
  CHECK_FALSE(p.b.store->Contains(*digest));
  CHECK(p.b.replicator->Holders(*digest) == 1);  // a is still known to hold it
  // A committed record naming it pulls it, and Abandon does not stop that.
  named = true;
  p.b.replicator->Settle(*digest);
  p.b.replicator->Abandon(*digest);
  p.Run();
  CHECK(p.b.store->Contains(*digest));
}

TEST_CASE("blobs held here whose records committed are not tracked when peers list them",
          "[unit][node]") {
  // Every peer announces all it holds when it connects: a node of a network with more blobs than
  // kMaxTrackedBlobs must not fill its table with old ones, or new records never become available.
  Pair p;
  std::map<crypto::Digest, std::uint64_t> committed;  // digest: the size its record names
  p.b_committed = [&](const crypto::Digest& d) -> std::optional<std::uint64_t> {
    auto it = committed.find(d);
    return it == committed.end() ? std::nullopt : std::optional(it->second);
  };
  std::vector<crypto::Digest> old;
  for (int i = 0; i < 5; ++i) {
    auto d = p.a.replicator->StoreLocal(RandomBlob(100 + i));
    REQUIRE(d.has_value());
    old.push_back(*d);
  }
  p.Run();  // b pulls them all, and tracks them until their records commit
  for (const auto& d : old) REQUIRE(p.b.store->Contains(d));
  CHECK(p.b.replicator->tracked_blobs() == 5);
  // b restarts (a new replicator: nothing settled is remembered) after they committed.
  for (int i = 0; i < 5; ++i) committed.emplace(old[static_cast<std::size_t>(i)], 100 + i);
  p.Make(p.b, 1, "b");
  p.b.replicator->OnPeerConnected(ReplicaId(0));
  p.a.replicator->OnPeerConnected(ReplicaId(1));  // a lists what it holds
  p.Run();
  CHECK(p.b.replicator->tracked_blobs() == 0);
  // A blob whose record has not committed is tracked as before: its availability matters.
  auto fresh = p.a.replicator->StoreLocal(RandomBlob(77));
  REQUIRE(fresh.has_value());
  p.Run();
  CHECK(p.b.store->Contains(*fresh));
  CHECK(p.b.replicator->tracked_blobs() == 1);
  CHECK(p.b.replicator->IsAvailable(*fresh));
}

TEST_CASE("a committed record's blob announced after a restart is pulled only at its size",
          "[unit][node]") {
  // b restarted after the record committed (nothing settled is remembered) and lacks its blob.
  Pair p;
  const Bytes blob = RandomBlob(kBlobChunkBytes + 10);
  const crypto::Digest digest = crypto::Sha256(blob);
  p.b_committed = [&](const crypto::Digest& d) -> std::optional<std::uint64_t> {
    if (d != digest) return std::nullopt;
    return blob.size();
  };
  REQUIRE(p.a.replicator->StoreLocal(blob).has_value());
  // The holder claims another size: refused at its first chunk, before anything is written.
  p.Run([](proto::PeerMessage& m) {
    if (auto* c = std::get_if<proto::PeerBlobChunk>(&m)) c->total_size += 4096;
  });
  CHECK_FALSE(p.b.store->Contains(digest));
  CHECK(p.b.replicator->stats().bytes_received == 0);
  CHECK(p.b.replicator->stats().pulls_failed >= 1);
  // Sent whole, it is taken.
  for (int i = 0; i < 3 && !p.b.store->Contains(digest); ++i) {
    p.b.replicator->Tick();
    p.a.replicator->OnPeerConnected(ReplicaId(1));  // a lists what it holds again
    p.Run();
  }
  CHECK(p.b.store->Contains(digest));
}

TEST_CASE("blobs are pulled in the order they were announced, not in digest order",
          "[unit][node]") {
  Pair p;
  constexpr std::size_t kBlobs = kMaxConcurrentPulls + 4;
  for (std::size_t i = 0; i < kBlobs; ++i) {
    REQUIRE(p.a.replicator->StoreLocal(RandomBlob(kBlobChunkBytes + 1)).has_value());
  }
  // Announced from the digest that sorts last to the one that sorts first: pulls started in
  // digest order would take the newest waiting blob before the older ones.
  std::vector<crypto::Digest> announced;
  for (const auto& [to, m] : p.wire) {
    const auto* have = std::get_if<proto::PeerBlobHave>(&m);
    REQUIRE(have != nullptr);
    announced.insert(announced.end(), have->digests.begin(), have->digests.end());
  }
  REQUIRE(announced.size() == kBlobs);
  std::sort(announced.rbegin(), announced.rend());
  p.wire.clear();
  for (const auto& d : announced) p.wire.emplace_back(1, proto::PeerBlobHave{{d}});

  std::vector<crypto::Digest> started;  // by the first chunk request of each pull
  p.Run([&](proto::PeerMessage& m) {
    if (const auto* r = std::get_if<proto::PeerBlobRequest>(&m); r && r->offset == 0) {
      started.push_back(r->digest);
    }
  });
  CHECK(started == announced);
  for (const auto& d : announced) CHECK(p.b.store->Contains(d));
}

TEST_CASE("many small blobs are pulled at once, and all pulls share one bound of requests",
          "[unit][node]") {
  Pair p;
  std::vector<crypto::Digest> digests;
  auto store = [&](std::size_t n, std::size_t size) {
    for (std::size_t i = 0; i < n; ++i) {
      auto d = p.a.replicator->StoreLocal(RandomBlob(size));
      REQUIRE(d.has_value());
      digests.push_back(*d);
    }
  };
  // Requests on their way to the holder and chunks on their way back: unanswered requests.
  std::size_t most = 0;
  auto count = [&](const proto::PeerMessage& m) {
    const auto counts = [](const proto::PeerMessage& x) {
      return std::holds_alternative<proto::PeerBlobRequest>(x) ||
             std::holds_alternative<proto::PeerBlobChunk>(x);
    };
    std::size_t unanswered = counts(m) ? 1 : 0;  // this one, taken off the wire for delivery
    for (const auto& [to, queued] : p.wire) unanswered += counts(queued) ? 1 : 0;
    most = std::max(most, unanswered);
  };
  SECTION("blobs of one chunk: one request each, all at once") {
    store(2 * kMaxConcurrentPulls, 2048);
    p.Run(count);
    CHECK(most == kMaxConcurrentPulls);
  }
  SECTION("four large pulls keep their windows; more pulls starting then stay within the bound") {
    store(4, 4 * kBlobChunkBytes + 5);
    bool more = false;
    p.Run([&](proto::PeerMessage& m) {
      count(m);
      // Once the first pulls ask ahead, many more blobs of two chunks and a bit are announced.
      const auto* r = std::get_if<proto::PeerBlobRequest>(&m);
      if (!more && r && r->offset >= 2 * kBlobChunkBytes) {
        more = true;
        store(2 * kMaxConcurrentPulls, 2 * kBlobChunkBytes + 5);
      }
    });
    CHECK(more);
    CHECK(most > kMaxConcurrentPulls);  // windows ahead and many pulls at once
    CHECK(most <= kMaxPullChunksInFlight);
  }
  CHECK(p.b.replicator->stats().pulls_failed == 0);
  for (const auto& d : digests) CHECK(p.b.store->Contains(d));
}

TEST_CASE("pulled blobs are synced and announced together, and count only once synced",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true);
  std::vector<crypto::Digest> digests;
  std::vector<Bytes> blobs;
  for (int i = 0; i < 3; ++i) {
    blobs.push_back(RandomBlob(2000 + 100 * static_cast<std::size_t>(i)));
    auto d = p.a.replicator->StoreLocal(blobs.back());
    REQUIRE(d.has_value());
    digests.push_back(*d);
  }
  p.Run();
  // b stored all three, but has not synced them: it announces none and does not count itself.
  REQUIRE(p.deferred.size() == 1);  // one publication for the group
  for (const auto& d : digests) {
    CHECK(p.b.store->Contains(d));
    CHECK(p.b.replicator->Holders(d) == 1);
    CHECK_FALSE(p.b.replicator->IsAvailable(d));
  }
  CHECK(p.b.available.empty());
  CHECK(p.a.available.empty());
  CHECK(p.b.counting->syncs == 0);
  p.RunDeferred();
  // One sync, then one announcement with the three digests; now b holds them and they reach f+1
  // on both sides.
  CHECK(p.b.counting->syncs == 1);
  REQUIRE(p.wire.size() == 1);
  const auto* have = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(have != nullptr);
  CHECK(have->digests.size() == 3);
  auto sorted = [](std::vector<crypto::Digest> v) {
    std::sort(v.begin(), v.end());
    return v;
  };
  CHECK(sorted(p.b.available) == sorted(digests));
  p.Run();
  CHECK(p.a.available.size() == 3);
  for (std::size_t i = 0; i < digests.size(); ++i) {
    auto copy = storage::GetBlob(*p.b.store, digests[i]);
    REQUIRE(copy.has_value());
    CHECK(*copy == blobs[i]);
  }
}

TEST_CASE("a background sync announces its blobs when it ends and the next waits for it",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true, /*background_syncs=*/true);
  auto first = p.a.replicator->StoreLocal(RandomBlob(2500));
  REQUIRE(first.has_value());
  p.Run();
  p.RunDeferred();
  // b has pulled the first blob and its sync runs in the background: not announced, not counted.
  REQUIRE(p.syncs.size() == 1);
  CHECK(p.wire.empty());
  CHECK(p.b.counting->syncs == 0);
  CHECK(p.b.replicator->Holders(*first) == 1);
  // A second blob arrives during that sync: it waits, no second sync starts alongside.
  auto second = p.a.replicator->StoreLocal(RandomBlob(2600));
  REQUIRE(second.has_value());
  p.Run();
  p.RunDeferred();
  CHECK(p.syncs.size() == 1);
  CHECK(p.b.replicator->Holders(*second) == 1);
  // The first sync ends: only the first blob is announced and counted, and the second's sync
  // starts.
  p.RunBackground();
  CHECK(p.b.counting->syncs == 1);
  REQUIRE(p.wire.size() == 1);
  const auto* have = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(have != nullptr);
  CHECK(have->digests == std::vector<crypto::Digest>{*first});
  CHECK(p.b.available == std::vector<crypto::Digest>{*first});
  CHECK(p.b.replicator->Holders(*second) == 1);
  REQUIRE(p.syncs.size() == 1);
  p.Run();
  p.RunBackground();
  CHECK(p.b.counting->syncs == 2);
  CHECK(p.b.available == std::vector<crypto::Digest>{*first, *second});
  p.Run();
  CHECK(p.a.available.size() == 2);
  CHECK(p.syncs.empty());
}

TEST_CASE("a peer that connects gets the listing taken off the io thread, unless it left meanwhile",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true, /*background_syncs=*/true);
  auto held = p.a.replicator->StoreLocal(RandomBlob(2500));
  REQUIRE(held.has_value());
  for (int i = 0; i < 10 && (!p.wire.empty() || !p.syncs.empty() || !p.deferred.empty()); ++i) {
    p.Run();
    p.RunDeferred();
    p.RunBackground();
  }
  REQUIRE(p.wire.empty());
  REQUIRE(p.b.store->Contains(*held));
  // b reconnects: a's listing waits for the background thread; then b gets it, with the size.
  p.a.replicator->OnPeerDisconnected(ReplicaId(1));
  p.a.replicator->OnPeerConnected(ReplicaId(1));
  CHECK(p.wire.empty());
  REQUIRE(p.syncs.size() == 1);
  p.RunBackground();
  REQUIRE(p.wire.size() == 1);
  CHECK(p.wire.front().first == 1);
  const auto* have = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(have != nullptr);
  CHECK(have->digests == std::vector<crypto::Digest>{*held});
  CHECK(have->sizes == std::vector<std::uint64_t>{2500});
  p.wire.clear();
  // b comes and goes before the listing is taken: nothing is sent to it.
  p.a.replicator->OnPeerDisconnected(ReplicaId(1));
  p.a.replicator->OnPeerConnected(ReplicaId(1));
  p.a.replicator->OnPeerDisconnected(ReplicaId(1));
  p.RunBackground();
  CHECK(p.wire.empty());
  // b reconnects again and again before the listing starts: one listing serves it, sent once.
  for (int i = 0; i < 5; ++i) {
    p.a.replicator->OnPeerConnected(ReplicaId(1));
    if (i < 4) p.a.replicator->OnPeerDisconnected(ReplicaId(1));
  }
  CHECK(p.syncs.size() == 1);
  p.RunBackground();
  REQUIRE(p.wire.size() == 1);
  CHECK(std::get<proto::PeerBlobHave>(p.wire.front().second).digests ==
        std::vector<crypto::Digest>{*held});
}

TEST_CASE("a copy deleted and stored again while a sync runs is announced after its own sync",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true, /*background_syncs=*/true);
  const Bytes blob = RandomBlob(3000);
  const crypto::Digest digest = p.UploadAtA(blob);
  p.RunDeferred();
  REQUIRE(p.syncs.size() == 1);  // the first copy's sync runs
  // Meanwhile the copy is deleted (as a copy that fails its check is) and stored again.
  REQUIRE(p.a.replicator->Erase(digest).ok());
  REQUIRE(p.UploadAtA(blob) == digest);
  p.RunDeferred();
  // The first sync ends: it made the first copy durable, not the second, which is not announced.
  p.RunBackground();
  CHECK(p.wire.empty());
  CHECK(p.a.replicator->Holders(digest) == 0);
  // The second copy's sync ends: now it is.
  REQUIRE(p.syncs.size() == 1);
  p.RunBackground();
  REQUIRE(p.wire.size() == 1);
  const auto* have = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(have != nullptr);
  CHECK(have->digests == std::vector<crypto::Digest>{digest});
  CHECK(p.a.replicator->Holders(digest) == 1);
}

TEST_CASE("an upload stored unsynced is synced with the group before it is announced or counted",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true);
  // Two uploads at a, written without a sync (UploadCall), then submitted.
  std::vector<crypto::Digest> digests;
  for (int i = 0; i < 2; ++i) digests.push_back(p.UploadAtA(RandomBlob(3000)));
  // Nothing is announced, and a's copies do not count, until the deferred publication syncs them.
  CHECK(p.wire.empty());
  REQUIRE(p.deferred.size() == 1);
  for (const auto& d : digests) CHECK(p.a.replicator->Holders(d) == 0);
  CHECK(p.a.counting->syncs == 0);
  p.RunDeferred();
  CHECK(p.a.counting->syncs == 1);
  REQUIRE(p.wire.size() == 1);
  const auto* have = std::get_if<proto::PeerBlobHave>(&p.wire.front().second);
  REQUIRE(have != nullptr);
  CHECK(have->digests.size() == 2);
  for (const auto& d : digests) CHECK(p.a.replicator->Holders(d) == 1);
  // b pulls both; once its own group is synced, both sides see f+1 = 2 holders.
  p.Run();
  p.RunDeferred();
  p.Run();
  CHECK(p.a.available.size() == 2);
  CHECK(p.b.available.size() == 2);
}

TEST_CASE("a record's named holder is asked before it announces and counts only once it does",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true);
  // An upload at a, submitted: queued for a's next group sync, not announced yet.
  const std::optional<crypto::Digest> digest = p.UploadAtA(RandomBlob(3000));
  REQUIRE(p.wire.empty());
  // b learns of the record first. Without a named holder it has no one to ask.
  CHECK_FALSE(p.b.replicator->Fetch(*digest));
  CHECK(p.wire.empty());
  CHECK(p.b.replicator->Fetch(*digest, ReplicaId(0)));
  REQUIRE(p.wire.size() == 1);
  CHECK(std::holds_alternative<proto::PeerBlobRequest>(p.wire.front().second));
  // a serves its copy before syncing it; b stores it. Neither copy counts yet.
  p.Run();
  CHECK(p.b.store->Contains(*digest));
  CHECK(p.a.replicator->Holders(*digest) == 0);
  CHECK(p.b.replicator->Holders(*digest) == 0);
  CHECK(p.a.available.empty());
  CHECK(p.b.available.empty());
  // Each syncs its group and announces: then both see f+1 = 2 holders.
  p.RunDeferred();
  CHECK(p.a.counting->syncs == 1);
  CHECK(p.b.counting->syncs == 1);
  p.Run();
  CHECK(p.a.replicator->Holders(*digest) == 2);
  CHECK(p.b.replicator->Holders(*digest) == 2);
  CHECK(p.a.available == std::vector<crypto::Digest>{*digest});
  CHECK(p.b.available == std::vector<crypto::Digest>{*digest});
  CHECK(p.b.replicator->stats().pulls_failed == 0);
}

TEST_CASE("a small blob sent along with its record is stored like a pulled one, with no request",
          "[unit][node]") {
  Pair p(/*grouped_syncs=*/true);
  auto upload = [&](const Bytes& blob) { return p.UploadAtA(blob); };
  const Bytes blob = RandomBlob(2048);
  const crypto::Digest digest = upload(blob);
  // Content that does not match the digest, or too large a blob, is not taken.
  CHECK_FALSE(p.b.replicator->Accept(digest, RandomBlob(2048), ReplicaId(0)));
  CHECK_FALSE(
      p.b.replicator->Accept(digest, RandomBlob(storage::kSmallBlobBytes + 1), ReplicaId(0)));
  CHECK_FALSE(p.b.store->Contains(digest));
  CHECK(p.b.replicator->Accept(digest, blob, ReplicaId(0)));
  CHECK(p.b.store->Contains(digest));
  CHECK(p.wire.empty());                                            // nothing asked of a
  CHECK(p.b.replicator->Holders(digest) == 0);                      // not durable yet
  CHECK_FALSE(p.b.replicator->Accept(digest, blob, ReplicaId(0)));  // held already
  // Both sync their group and announce: f+1 = 2 holders on each side.
  p.RunDeferred();
  p.Run();
  CHECK(p.a.replicator->Holders(digest) == 2);
  CHECK(p.b.replicator->Holders(digest) == 2);
  CHECK(p.b.available == std::vector<crypto::Digest>{digest});
  CHECK(p.b.replicator->stats().blobs_received == 1);
  CHECK(p.b.replicator->stats().blobs_offered == 1);
  // A blob b was already pulling: taking it ends the pull, and the chunk still coming is dropped.
  const Bytes second = RandomBlob(3000);
  const crypto::Digest other = upload(second);
  CHECK(p.b.replicator->Fetch(other, ReplicaId(0)));
  CHECK(p.b.replicator->active_pulls() == 1);
  CHECK(p.b.replicator->Accept(other, second, ReplicaId(0)));
  CHECK(p.b.replicator->active_pulls() == 0);
  p.Run();
  CHECK(p.b.replicator->stats().blobs_received == 2);
  CHECK(p.b.replicator->stats().pulls_failed == 0);
  // An erased record's blob is never taken.
  const Bytes third = RandomBlob(1000);
  const crypto::Digest erased = crypto::Sha256(third);
  p.b.erased.insert(erased);
  CHECK_FALSE(p.b.replicator->Accept(erased, third, ReplicaId(0)));
  CHECK_FALSE(p.b.store->Contains(erased));
}

TEST_CASE("a named holder that does not hold the blob gives way to one that announces it",
          "[unit][node]") {
  Pair p;
  // Peer 2 is connected to b (the harness routes b's messages for it to a, where they are dropped).
  p.b.replicator->OnPeerConnected(ReplicaId(2));
  const Bytes blob = RandomBlob(5000);
  auto digest = storage::PutBlob(*p.a.store, blob);  // at a, not announced
  REQUIRE(digest.has_value());
  // The record names peer 2, which never answers.
  CHECK(p.b.replicator->Fetch(*digest, ReplicaId(2)));
  REQUIRE(p.wire.size() == 1);
  CHECK(std::holds_alternative<proto::PeerBlobRequest>(p.wire.front().second));
  p.wire.clear();
  CHECK(p.b.replicator->active_pulls() == 1);
  CHECK(p.b.replicator->Holders(*digest) == 0);  // a named holder is never counted
  // a announces it: b pulls from a at once instead of waiting for peer 2's stall.
  p.a.replicator->Announce(*digest);
  p.Run();
  CHECK(p.b.store->Contains(*digest));
  CHECK(p.b.replicator->active_pulls() == 0);
  CHECK(p.b.replicator->Holders(*digest) == 2);
}

TEST_CASE("a settled blob's holders are forgotten, after it is pulled if need be", "[unit][node]") {
  Pair p;
  const Bytes blob = RandomBlob(2 * kBlobChunkBytes + 5);
  auto digest = p.a.replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  // b hears that the record committed before it knows any holder: it must still pull it.
  p.b.replicator->Settle(*digest);
  p.Run();
  CHECK(p.b.store->Contains(*digest));
  CHECK(p.b.replicator->Holders(*digest) == 1);  // its own copy; a is forgotten after the pull
  CHECK(p.a.replicator->Holders(*digest) == 2);
  p.a.replicator->Settle(*digest);
  CHECK(p.a.replicator->Holders(*digest) == 1);
  // A late announcement is not tracked again.
  p.a.replicator->OnHave(ReplicaId(1), proto::PeerBlobHave{{*digest}});
  CHECK(p.a.replicator->Holders(*digest) == 1);
  CHECK(p.a.replicator->active_pulls() == 0);
}

TEST_CASE("wrong content, seeks and changing sizes are refused", "[unit][node]") {
  SECTION("a holder that sends other bytes: nothing is published") {
    Pair p;
    auto digest = p.a.replicator->StoreLocal(RandomBlob(kBlobChunkBytes + 10));
    p.Run([](proto::PeerMessage& m) {
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&m); c && !c->data.empty()) c->data[0] ^= 1;
    });
    CHECK_FALSE(p.b.store->Contains(*digest));
    CHECK(p.b.replicator->stats().pulls_failed == 1);
  }
  SECTION("a total size that changes between chunks fails the pull") {
    Pair p;
    auto digest = p.a.replicator->StoreLocal(RandomBlob(2 * kBlobChunkBytes + 10));
    int chunks = 0;
    p.Run([&](proto::PeerMessage& m) {
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&m); c && ++chunks == 2) c->total_size += 1;
    });
    CHECK_FALSE(p.b.store->Contains(*digest));
    CHECK(p.b.replicator->stats().pulls_failed == 1);
  }
  SECTION("a holder whose copy is corrupt serves none of it, even a blob of one chunk") {
    for (std::size_t size : {std::size_t{2048}, kBlobChunkBytes, kBlobChunkBytes + 7}) {
      Pair p;
      const Bytes blob = RandomBlob(size);
      auto digest = p.a.replicator->StoreLocal(blob);
      REQUIRE(digest.has_value());
      const std::string hex = digest->ToHex();
      const auto path = (p.dir / "a") / "objects" / hex.substr(0, 2) / hex;
      std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                                   std::filesystem::perm_options::add);
      {
        std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(static_cast<std::streamoff>(size - 1));  // in the last chunk
        f.put(static_cast<char>(blob[size - 1] ^ 0x40));
      }
      p.Run();
      CHECK_FALSE(p.b.store->Contains(*digest));
      CHECK(p.a.replicator->stats().bytes_served == (size > kBlobChunkBytes ? kBlobChunkBytes : 0));
      // The puller is told at once that the holder has no good copy (not left to stall for
      // 10 s), and the holder deletes its copy to pull a good one (none exists here).
      CHECK(p.b.replicator->active_pulls() == 0);
      CHECK(p.b.replicator->stats().pulls_failed == 1);
      CHECK_FALSE(p.a.store->Contains(*digest));
    }
  }
  SECTION("a holder saying another size than the record's fails the pull, not waiting for disk") {
    Pair p;
    const Bytes blob = RandomBlob(kBlobChunkBytes + 10);
    auto digest = p.a.replicator->StoreLocal(blob);
    p.wire.clear();  // b learns of the blob from its committed record only
    p.b_free = [] { return std::optional<std::uint64_t>(std::uint64_t{2} << 30); };  // 2 GiB
    p.b.replicator->Settle(*digest, blob.size());
    p.Run([](proto::PeerMessage& m) {
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&m); c && c->offset == 0) {
        c->total_size = kMaxReplicatedBlobBytes;  // 4 GiB, more than fits above the reserve
      }
    });
    CHECK_FALSE(p.b.store->Contains(*digest));
    CHECK(p.b.replicator->pulls_waiting_for_disk() == 0);
    CHECK(p.b.replicator->stats().pulls_failed >= 1);
  }
  SECTION("a chunk shorter than a whole one fails the pull at once") {
    Pair p;
    auto digest = p.a.replicator->StoreLocal(RandomBlob(2 * kBlobChunkBytes + 10));
    p.Run([](proto::PeerMessage& m) {
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&m); c && c->offset == 0) {
        c->data.resize(c->data.size() - 1);
      }
    });
    CHECK_FALSE(p.b.store->Contains(*digest));
    CHECK(p.b.replicator->active_pulls() == 0);
    CHECK(p.b.replicator->stats().pulls_failed == 1);
    CHECK(p.b.replicator->stats().bytes_received == 0);  // refused before it was written
  }
  SECTION("a request in the middle of a blob is told to start again, and nothing is read") {
    Pair p;
    auto digest = p.a.replicator->StoreLocal(RandomBlob(2 * kBlobChunkBytes));
    p.wire.clear();
    p.a.replicator->OnRequest(ReplicaId(1), proto::PeerBlobRequest{*digest, kBlobChunkBytes});
    REQUIRE(p.wire.size() == 1);
    const auto* c = std::get_if<proto::PeerBlobChunk>(&p.wire.front().second);
    REQUIRE(c != nullptr);
    CHECK(c->total_size == 0);  // "not held"
    CHECK(c->data.empty());
    CHECK(p.a.replicator->stats().bytes_served == 0);
  }
}

TEST_CASE("an erased blob is deleted and never pulled again", "[unit][node]") {
  Pair p;
  auto digest = p.a.replicator->StoreLocal(RandomBlob(1000));
  p.Run();
  REQUIRE(p.b.store->Contains(*digest));
  p.b.erased.insert(*digest);
  REQUIRE(p.b.replicator->Erase(*digest).ok());
  CHECK_FALSE(p.b.store->Contains(*digest));
  p.b.replicator->OnHave(ReplicaId(0), proto::PeerBlobHave{{*digest}});
  p.Run();
  CHECK_FALSE(p.b.store->Contains(*digest));
  CHECK(p.b.replicator->stats().blobs_erased == 1);

  // A copy left behind by a failed deletion is never served: asked for it, the holder answers
  // that it has none, and deletes it.
  auto left = p.a.replicator->StoreLocal(RandomBlob(3000));
  p.Run();
  p.a.erased.insert(*left);
  p.wire.clear();
  p.a.replicator->OnRequest(ReplicaId(1), proto::PeerBlobRequest{*left, 0});
  REQUIRE(p.wire.size() == 1);
  const auto* chunk = std::get_if<proto::PeerBlobChunk>(&p.wire.front().second);
  REQUIRE(chunk != nullptr);
  CHECK(chunk->total_size == 0);
  CHECK(chunk->data.empty());
  CHECK_FALSE(p.a.store->Contains(*left));
}

// Four (or n) replicators, fully connected, with a clock the test moves.
struct Mesh {
  testing::TempDir dir;
  std::vector<Side> sides;
  std::deque<std::tuple<int, int, proto::PeerMessage>> wire;  // (from, to, message)
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  // Messages lost on the way (unset: none).
  std::function<bool(int from, int to, const proto::PeerMessage&)> drop;

  Mesh(int n, std::size_t needed) : sides(static_cast<std::size_t>(n)) {
    for (int i = 0; i < n; ++i) {
      Side& s = sides[static_cast<std::size_t>(i)];
      auto store = storage::OpenFileBlobStore(dir / ("n" + std::to_string(i)));
      REQUIRE(store.has_value());
      s.store = std::move(*store);
      BlobReplicator::Hooks hooks;
      hooks.send = [this, i, n](std::optional<ReplicaId> to, const proto::PeerMessage& m) {
        for (int j = 0; j < n; ++j) {
          if (j != i && (!to || to->value() == static_cast<std::uint32_t>(j))) {
            wire.emplace_back(i, j, m);
          }
        }
        return true;
      };
      hooks.is_erased = [&s](const crypto::Digest& d) { return s.erased.count(d) > 0; };
      hooks.is_referenced = [&s](const crypto::Digest& d) {
        return !s.referenced || s.referenced(d);
      };
      hooks.committed_size = [&s](const crypto::Digest& d) -> std::optional<std::uint64_t> {
        return s.committed ? s.committed(d) : std::nullopt;
      };
      hooks.on_available = [&s](const crypto::Digest& d) { s.available.push_back(d); };
      hooks.now = [this] { return now; };
      s.replicator = std::make_unique<BlobReplicator>(
          *s.store, needed, std::move(hooks),
          std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()));
    }
    for (int i = 0; i < n; ++i) {
      for (int j = 0; j < n; ++j) {
        if (i != j) sides[static_cast<std::size_t>(i)].replicator->OnPeerConnected(Id(j));
      }
    }
    wire.clear();  // the (empty) announcements on connect
  }
  static ReplicaId Id(int i) { return ReplicaId(static_cast<std::uint32_t>(i)); }
  Side& at(int i) { return sides[static_cast<std::size_t>(i)]; }
  // Delivers messages until none is left; `observe` sees each before delivery.
  void Run(const std::function<void(int from, int to, const proto::PeerMessage&)>& observe = {}) {
    for (int steps = 0; !wire.empty() && steps < 100000; ++steps) {
      auto [from, to, m] = std::move(wire.front());
      wire.pop_front();
      if (drop && drop(from, to, m)) continue;
      if (observe) observe(from, to, m);
      BlobReplicator& r = *at(to).replicator;
      if (auto* h = std::get_if<proto::PeerBlobHave>(&m)) r.OnHave(Id(from), *h);
      if (auto* q = std::get_if<proto::PeerBlobRequest>(&m)) r.OnRequest(Id(from), *q);
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&m)) r.OnChunk(Id(from), *c);
      if (auto* p = std::get_if<proto::PeerBlobPush>(&m)) r.OnPush(Id(from), *p);
      if (auto* a = std::get_if<proto::PeerBlobPushAck>(&m)) r.OnPushAck(Id(from), *a);
    }
  }
  // Peers that `from` sent a message of type T to, among the queued messages.
  template <typename T>
  std::set<int> SentTo(int from) const {
    std::set<int> out;
    for (const auto& [f, t, m] : wire) {
      if (f == from && std::holds_alternative<T>(m)) out.insert(t);
    }
    return out;
  }
  // Peers that an announcement of `digest` from `from` went to, among the queued messages.
  std::set<int> AnnouncedTo(int from, const crypto::Digest& digest) const {
    std::set<int> out;
    for (const auto& [f, t, m] : wire) {
      const auto* h = std::get_if<proto::PeerBlobHave>(&m);
      if (f == from && h && std::count(h->digests.begin(), h->digests.end(), digest)) out.insert(t);
    }
    return out;
  }
};

TEST_CASE("a peer announcing made-up digests fills its share of the table, and they are forgotten",
          "[unit][node]") {
  Mesh mesh(4, 2);
  BlobReplicator& r = *mesh.at(0).replicator;
  const std::size_t share = r.tracked_share();
  CHECK(share == kMaxTrackedBlobs / 2);  // f = 1: a faulty peer fills half of the table at most
  std::set<crypto::Digest> named;        // records node 0 knows
  mesh.at(0).referenced = [&](const crypto::Digest& d) { return named.count(d) > 0; };
  // Node 3 announces as many digests as the whole table holds.
  std::vector<crypto::Digest> made_up(kMaxTrackedBlobs);
  for (std::size_t i = 0; i < made_up.size(); ++i) {
    std::memcpy(made_up[i].data(), &i, sizeof i);
    made_up[i].data()[31] = 0xee;
  }
  r.OnHave(Mesh::Id(3), proto::PeerBlobHave{made_up});
  CHECK(r.tracked_blobs() == share);
  CHECK(r.tracked_from(Mesh::Id(3)) == share);
  CHECK(r.largest_tracked_share() == share);
  CHECK(r.active_pulls() == 0);  // no record names them
  CHECK(r.TrackingConsistent());
  // A new record's blob from an honest peer is still tracked, pulled and available.
  const Bytes blob = RandomBlob(300);
  const crypto::Digest digest = crypto::Sha256(blob);
  named.insert(digest);
  REQUIRE(mesh.at(1).replicator->StoreLocal(blob).has_value());
  mesh.Run();
  CHECK(mesh.at(0).store->Contains(digest));
  CHECK(r.IsAvailable(digest));
  // Node 3 at its share cannot add itself to the honest entry either.
  r.OnHave(Mesh::Id(3), proto::PeerBlobHave{{digest}});
  CHECK(r.tracked_from(Mesh::Id(3)) == share);
  const std::size_t holders = r.Holders(digest);
  // Nothing here needs the made-up digests: they are forgotten once idle for kTrackedIdle; the
  // named record's are kept.
  // The idle check goes round the table kSweepBatch digests per Tick (each may cost a state read):
  // one Tick forgets no more than that, a round of ticks all of them.
  const std::size_t round = share / kSweepBatch + 2;
  mesh.now += kTrackedIdle - std::chrono::minutes(1);
  for (std::size_t i = 0; i < round; ++i) r.Tick();
  CHECK(r.tracked_from(Mesh::Id(3)) == share);
  mesh.now += std::chrono::minutes(2);
  r.Tick();
  CHECK(r.tracked_from(Mesh::Id(3)) >= share - kSweepBatch);
  CHECK(r.tracked_from(Mesh::Id(3)) < share);
  CHECK(r.TrackingConsistent());
  for (std::size_t i = 0; i < round; ++i) r.Tick();
  CHECK(r.tracked_from(Mesh::Id(3)) == 0);
  CHECK(r.tracked_blobs() == 1);
  CHECK(r.Holders(digest) == holders);
  CHECK(r.TrackingConsistent());
  // Once no record names it either (it was rejected, say), it goes too.
  named.clear();
  mesh.now += kTrackedIdle;
  r.Tick();
  r.Tick();  // the round may have stopped short of it
  CHECK(r.tracked_blobs() == 0);
  CHECK(r.TrackingConsistent());
}

TEST_CASE("pulls of many committed blobs spread over their holders, at the size each record names",
          "[unit][node]") {
  Mesh mesh(4, 2);
  BlobReplicator& r = *mesh.at(0).replicator;
  // Node 0 knows no record naming them yet: it tracks their holders without pulling.
  std::map<crypto::Digest, std::uint64_t> committed;
  mesh.at(0).referenced = [&](const crypto::Digest& d) { return committed.count(d) > 0; };
  mesh.at(0).committed = [&](const crypto::Digest& d) -> std::optional<std::uint64_t> {
    auto it = committed.find(d);
    return it == committed.end() ? std::nullopt : std::optional(it->second);
  };
  // 96 blobs, each held by nodes 1, 2 and 3 (as after a wiped node 0 lost them).
  std::vector<Bytes> blobs;
  std::vector<crypto::Digest> digests;
  for (int i = 0; i < 96; ++i) {
    blobs.push_back(RandomBlob(64));
    digests.push_back(crypto::Sha256(blobs.back()));
    for (int holder = 1; holder <= 3; ++holder) {
      REQUIRE(mesh.at(holder).replicator->StoreLocal(blobs.back()).has_value());
    }
  }
  mesh.Run();
  REQUIRE(r.active_pulls() == 0);
  for (const auto& d : digests) REQUIRE(r.Holders(d) == 3);
  // The first half: each committed at its size; the pulls go to every holder, not all to one.
  std::map<int, int> asked;  // holder: requests
  auto count_requests = [&](int from, int to, const proto::PeerMessage& m) {
    if (from == 0 && std::holds_alternative<proto::PeerBlobRequest>(m)) ++asked[to];
  };
  for (std::size_t i = 0; i < 48; ++i) {
    committed[digests[i]] = 64;
    r.Settle(digests[i], 64);
  }
  mesh.Run(count_requests);
  for (std::size_t i = 0; i < 48; ++i) CHECK(mesh.at(0).store->Contains(digests[i]));
  CHECK(asked.size() == 3);
  CHECK(asked[1] + asked[2] + asked[3] == 48);  // one request per 64-byte blob
  // The second half: node 1 says (falsely) it holds them at another size. Node 0 asks the
  // holders that announced the size the records name, and never node 1 (the lowest id).
  std::vector<std::uint64_t> wrong(48, 65);
  r.OnHave(Mesh::Id(1),
           proto::PeerBlobHave{std::vector(digests.begin() + 48, digests.end()), wrong});
  asked.clear();
  for (std::size_t i = 48; i < 96; ++i) {
    committed[digests[i]] = 64;
    r.Settle(digests[i], 64);
  }
  mesh.Run(count_requests);
  for (std::size_t i = 48; i < 96; ++i) CHECK(mesh.at(0).store->Contains(digests[i]));
  CHECK(asked.count(1) == 0);
  CHECK(asked[2] > 0);
  CHECK(asked[3] > 0);
  CHECK(r.TrackingConsistent());
}

TEST_CASE("committed records' blobs are pulled whatever the shares, and do not count in them",
          "[unit][node]") {
  Mesh mesh(4, 2);
  BlobReplicator& r = *mesh.at(0).replicator;
  std::map<crypto::Digest, std::uint64_t> committed;  // digest: the size its record names
  mesh.at(0).committed = [&](const crypto::Digest& d) -> std::optional<std::uint64_t> {
    auto it = committed.find(d);
    return it == committed.end() ? std::nullopt : std::optional(it->second);
  };
  const Bytes pending = RandomBlob(500);
  const crypto::Digest pending_digest = crypto::Sha256(pending);
  mesh.at(0).referenced = [&](const crypto::Digest& d) {
    return d == pending_digest || committed.count(d) > 0;
  };
  // A blob named by a record not committed yet, announced by node 2, which does not send it:
  // tracked, and charged to node 2.
  r.OnHave(Mesh::Id(2), proto::PeerBlobHave{{pending_digest}});
  mesh.wire.clear();
  CHECK(r.tracked_from(Mesh::Id(2)) == 1);
  CHECK(r.tracked_uncommitted() == 1);
  // Its record commits: its holders stay tracked for the pull, no longer in node 2's share.
  r.Settle(pending_digest);
  CHECK(r.tracked_from(Mesh::Id(2)) == 0);
  CHECK(r.tracked_uncommitted() == 0);
  CHECK(r.tracked_blobs() == 1);
  CHECK(r.TrackingConsistent());
  mesh.wire.clear();
  // Node 1 fills its share with made-up digests; then it announces a blob whose record had
  // committed before node 0 restarted (so it was never settled here). It is pulled anyway.
  std::vector<crypto::Digest> made_up(r.tracked_share());
  for (std::size_t i = 0; i < made_up.size(); ++i) {
    std::memcpy(made_up[i].data(), &i, sizeof i);
    made_up[i].data()[31] = 0xee;
  }
  r.OnHave(Mesh::Id(1), proto::PeerBlobHave{made_up});
  CHECK(r.tracked_from(Mesh::Id(1)) == r.tracked_share());
  const Bytes old = RandomBlob(2 * kBlobChunkBytes + 1);
  const crypto::Digest old_digest = crypto::Sha256(old);
  REQUIRE(storage::PutBlob(*mesh.at(1).store, old).has_value());
  committed.emplace(old_digest, old.size());
  r.OnHave(Mesh::Id(1), proto::PeerBlobHave{{old_digest}});
  for (int round = 0; round < 3 && !mesh.at(0).store->Contains(old_digest); ++round) {
    mesh.Run();
    mesh.now += std::chrono::seconds(10);
    r.Tick();
  }
  CHECK(mesh.at(0).store->Contains(old_digest));
  CHECK(r.tracked_from(Mesh::Id(1)) == r.tracked_share());
  CHECK(r.TrackingConsistent());
  // Announced by a peer under its share, such a blob is tracked outside the shares, and
  // forgotten once pulled.
  const Bytes older = RandomBlob(700);
  const crypto::Digest older_digest = crypto::Sha256(older);
  REQUIRE(storage::PutBlob(*mesh.at(3).store, older).has_value());
  committed.emplace(older_digest, older.size());
  r.OnHave(Mesh::Id(3), proto::PeerBlobHave{{older_digest}});
  CHECK(r.tracked_from(Mesh::Id(3)) == 0);
  CHECK(r.TrackingConsistent());
  mesh.Run();
  CHECK(mesh.at(0).store->Contains(older_digest));
  CHECK(r.Holders(older_digest) == 1);  // its own copy: node 3 is no longer tracked
  CHECK(r.TrackingConsistent());
}

TEST_CASE("a committed record's blob with no tracked holder is asked of each peer in turn",
          "[unit][node]") {
  // A node catching up in a network with more blobs than it can track (or whose peers'
  // announcements it missed) still gets every committed record's blob.
  Mesh mesh(4, 2);
  BlobReplicator& r = *mesh.at(0).replicator;
  const Bytes blob = RandomBlob(2 * kBlobChunkBytes + 9);
  const crypto::Digest digest = crypto::Sha256(blob);
  // Held by one peer only, which never announced it to node 0.
  const int holder = 1 + (digest.data()[0] + 2) % 3;  // the last of the three peers asked
  REQUIRE(storage::PutBlob(*mesh.at(holder).store, blob).has_value());
  r.Settle(digest);
  CHECK(r.probing_pulls() == 1);
  std::set<int> asked;
  const auto requests = [&](int from, int to, const proto::PeerMessage& m) {
    if (from == 0 && std::holds_alternative<proto::PeerBlobRequest>(m)) asked.insert(to);
  };

  SECTION("peers lacking it say so at once") {
    mesh.Run(requests);  // no clock: no stall is waited for
  }
  SECTION("peers lacking it that stay silent (older nodes) stall first") {
    mesh.drop = [](int, int, const proto::PeerMessage& m) {
      const auto* c = std::get_if<proto::PeerBlobChunk>(&m);
      return c && c->total_size == 0;
    };
    for (int round = 0; round < 3 && !mesh.at(0).store->Contains(digest); ++round) {
      mesh.Run(requests);
      mesh.now += std::chrono::seconds(10);  // a peer that sent nothing stalls
      r.Tick();
    }
  }
  CHECK(mesh.at(0).store->Contains(digest));
  CHECK(asked == std::set<int>{1, 2, 3});
  CHECK(r.stats().pulls_failed == 0);  // peers lacking it are not failures
  CHECK(r.probing_pulls() == 0);
  CHECK(r.tracked_blobs() == 0);

  // When no peer has one, they are asked again after kProbeRetry, not before.
  mesh.now += kProbeRetry;  // the peers asked in vain are forgotten now, and next in kProbeRetry
  r.Tick();
  const Bytes lost = RandomBlob(100);
  const crypto::Digest lost_digest = crypto::Sha256(lost);
  r.Settle(lost_digest);
  asked.clear();
  mesh.drop = {};
  mesh.Run(requests);
  CHECK(asked.size() == 3);
  CHECK(r.active_pulls() == 0);  // every peer was asked in vain
  CHECK(r.pulls_parked() == 1);  // not looked at by every StartPulls meanwhile
  CHECK(r.WantedConsistent());
  REQUIRE(storage::PutBlob(*mesh.at(2).store, lost).has_value());  // restored there
  mesh.now += kProbeRetry - std::chrono::seconds(30);
  r.Tick();
  mesh.Run();
  CHECK_FALSE(mesh.at(0).store->Contains(lost_digest));
  mesh.now += std::chrono::seconds(30);
  r.Tick();
  mesh.Run();
  CHECK(mesh.at(0).store->Contains(lost_digest));
  CHECK(r.stats().pulls_failed == 0);
  CHECK(r.pulls_parked() == 0);
  CHECK(r.WantedConsistent());
}

TEST_CASE("answers to a pull given up do not end the next pull of the blob", "[unit][node]") {
  Mesh mesh(2, 2);
  BlobReplicator& r = *mesh.at(1).replicator;
  const Bytes blob = RandomBlob(2 * kBlobChunkBytes + 9);
  const crypto::Digest digest = crypto::Sha256(blob);
  // Node 0's answers to the first pull are held up on the link (a slow or congested peer).
  std::deque<std::tuple<int, int, proto::PeerMessage>> late;
  mesh.drop = [&](int from, int to, const proto::PeerMessage& m) {
    if (!std::holds_alternative<proto::PeerBlobChunk>(m)) return false;
    late.emplace_back(from, to, m);
    return true;
  };
  const auto first_pull_gives_up = [&] {
    mesh.Run();
    REQUIRE_FALSE(late.empty());
    CHECK(r.active_pulls() == 1);
    mesh.now += std::chrono::seconds(10);  // nothing came: the pull is given up
    r.Tick();
    CHECK(r.active_pulls() == 0);
    mesh.drop = {};
  };

  SECTION("late chunks of the blob") {
    REQUIRE(mesh.at(0).replicator->StoreLocal(blob).has_value());
    first_pull_gives_up();
    CHECK(r.stats().pulls_failed == 1);
    // Node 0 announces it again: a new pull from it starts; the late chunks arrive first.
    r.OnHave(Mesh::Id(0), proto::PeerBlobHave{{digest}});
  }
  SECTION("a late answer that the blob was not held yet") {
    CHECK(r.Fetch(digest, Mesh::Id(0)));  // its record names node 0, which has not stored it yet
    first_pull_gives_up();
    REQUIRE(late.size() == 1);
    CHECK(std::get<proto::PeerBlobChunk>(std::get<2>(late.front())).total_size == 0);
    // Node 0 stores it and announces it: a new pull from it starts; the late answer arrives first.
    REQUIRE(mesh.at(0).replicator->StoreLocal(blob).has_value());
    mesh.wire.clear();
    r.OnHave(Mesh::Id(0), proto::PeerBlobHave{{digest}});
  }
  CHECK(r.active_pulls() == 1);
  REQUIRE(mesh.wire.size() == 1);  // the new pull's request
  const auto failed = r.stats().pulls_failed;
  for (auto it = late.rbegin(); it != late.rend(); ++it) mesh.wire.push_front(std::move(*it));
  mesh.Run();
  CHECK(mesh.at(1).store->Contains(digest));
  CHECK(r.stats().pulls_failed == failed);
  CHECK(r.Holders(digest) == 2);
  CHECK(r.active_pulls() == 0);
}

TEST_CASE("a pull keeps a window of chunk requests ahead of the chunk it writes", "[unit][node]") {
  Mesh p(2, 2);
  const Bytes blob = RandomBlob(6 * kBlobChunkBytes + 3);
  auto digest = p.at(0).replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  // Sees each message before it is delivered, counting the requests the holder has not answered.
  std::size_t most = 0;
  std::size_t requests = 0;
  p.Run([&](int, int to, const proto::PeerMessage& m) {
    std::size_t outstanding = 0;
    for (const auto& [f, dest, queued] : p.wire) {
      if (dest == 0 && std::holds_alternative<proto::PeerBlobRequest>(queued)) ++outstanding;
    }
    if (const auto* r = std::get_if<proto::PeerBlobRequest>(&m); r && to == 0) {
      ++outstanding;  // this one, taken off the wire for delivery
      CHECK(r->offset % kBlobChunkBytes == 0);
      CHECK(r->offset == requests * kBlobChunkBytes);  // in order, each chunk once
      ++requests;
    }
    most = std::max(most, outstanding);
  });
  CHECK(requests == 7);  // 6 whole chunks and the last 3 bytes, none asked twice
  CHECK(most == kPullWindowChunks);
  CHECK(p.at(1).replicator->stats().pulls_failed == 0);
  auto copy = storage::GetBlob(*p.at(1).store, *digest);
  REQUIRE(copy.has_value());
  CHECK(*copy == blob);
}

TEST_CASE("a holder serves each peer's sixteen pulls of large blobs at once", "[unit][node]") {
  Mesh p(3, 3);
  std::vector<crypto::Digest> digests;
  for (std::size_t i = 0; i < kMaxConcurrentPulls + 4; ++i) {
    auto d = p.at(0).replicator->StoreLocal(RandomBlob(2 * kBlobChunkBytes + 1));
    REQUIRE(d.has_value());
    digests.push_back(*d);
  }
  // Both peers pull from node 0, sixteen sessions each: none of them is dropped (a dropped
  // session's next request would go unanswered and its pull stall).
  p.Run();
  for (int i : {1, 2}) {
    CHECK(p.at(i).replicator->stats().pulls_failed == 0);
    for (const auto& d : digests) CHECK(p.at(i).store->Contains(d));
  }
}

TEST_CASE("a peer's session it gave up is the one dropped for a new one", "[unit][node]") {
  Pair p;
  for (std::size_t i = 0; i <= kMaxServingSessionsPerPeer; ++i) {
    REQUIRE(p.a.replicator->StoreLocal(RandomBlob(2 * kBlobChunkBytes + 1)).has_value());
  }
  std::vector<crypto::Digest> digests;
  for (const auto& [to, m] : p.wire) {
    for (const auto& d : std::get<proto::PeerBlobHave>(m).digests) digests.push_back(d);
  }
  REQUIRE(digests.size() == kMaxServingSessionsPerPeer + 1);
  std::sort(digests.begin(), digests.end());
  p.wire.clear();
  // The peer asked for the first chunk of the blob that sorts last and then gave it up: its
  // session stays open at the holder. (Dropping by position would drop a live session instead.)
  const crypto::Digest given_up = digests.back();
  digests.pop_back();
  p.a.replicator->OnRequest(ReplicaId(1), proto::PeerBlobRequest{given_up, 0});
  p.wire.clear();  // its chunk is lost
  // Then it pulls sixteen others at once: all of them arrive.
  for (const auto& d : digests) p.wire.emplace_back(1, proto::PeerBlobHave{{d}});
  p.Run();
  CHECK(p.b.replicator->stats().pulls_failed == 0);
  for (const auto& d : digests) CHECK(p.b.store->Contains(d));
}

TEST_CASE("a large blob is announced to f peers first, to all once f+1 nodes hold it",
          "[unit][node]") {
  Mesh mesh(4, 2);
  const Bytes blob = RandomBlob(kStagedAnnounceBytes + 5);
  auto digest = mesh.at(0).replicator->StoreLocal(blob);
  REQUIRE(digest.has_value());
  const std::set<int> first = mesh.AnnouncedTo(0, *digest);
  REQUIRE(first.size() == 1);  // f = 1: one more copy makes it available
  const int chosen = *first.begin();
  CHECK(mesh.at(0).replicator->staged_announcements() == 1);
  // Nobody else hears of the blob, nor gets a chunk of it, before the chosen copy is whole.
  mesh.Run([&](int, int to, const proto::PeerMessage& m) {
    if (to == chosen || to == 0) return;
    if (std::holds_alternative<proto::PeerBlobHave>(m) ||
        std::holds_alternative<proto::PeerBlobChunk>(m)) {
      CHECK(mesh.at(chosen).store->Contains(*digest));
    }
  });
  CHECK(mesh.at(0).replicator->staged_announcements() == 0);
  for (int i = 0; i < 4; ++i) {
    CAPTURE(i);
    auto copy = storage::GetBlob(*mesh.at(i).store, *digest);
    REQUIRE(copy.has_value());
    CHECK(*copy == blob);
    CHECK(mesh.at(i).replicator->IsAvailable(*digest));
  }

  SECTION("the next large blob goes to another first puller") {
    auto second = mesh.at(0).replicator->StoreLocal(RandomBlob(kStagedAnnounceBytes + 6));
    REQUIRE(second.has_value());
    const std::set<int> next = mesh.AnnouncedTo(0, *second);
    REQUIRE(next.size() == 1);
    CHECK(*next.begin() != chosen);
  }
}

TEST_CASE("small blobs, and large ones when f peers are all there is, go to every peer at once",
          "[unit][node]") {
  Mesh mesh(4, 2);
  auto small = mesh.at(0).replicator->StoreLocal(RandomBlob(kStagedAnnounceBytes - 1));
  REQUIRE(small.has_value());
  CHECK(mesh.AnnouncedTo(0, *small) == std::set<int>{1, 2, 3});
  Mesh pair(2, 2);
  auto large = pair.at(0).replicator->StoreLocal(RandomBlob(kStagedAnnounceBytes));
  REQUIRE(large.has_value());
  CHECK(pair.AnnouncedTo(0, *large) == std::set<int>{1});
  CHECK(pair.at(0).replicator->staged_announcements() == 0);
}

TEST_CASE("a staged blob goes to every peer when its first puller leaves, idles or crawls",
          "[unit][node]") {
  Mesh mesh(4, 2);
  auto digest = mesh.at(0).replicator->StoreLocal(RandomBlob(kStagedAnnounceBytes + 5));
  REQUIRE(digest.has_value());
  const int chosen = *mesh.AnnouncedTo(0, *digest).begin();
  mesh.wire.clear();  // the first puller never hears of it
  SECTION("it disconnects: another peer takes its place") {
    mesh.at(0).replicator->OnPeerDisconnected(Mesh::Id(chosen));
    const std::set<int> next = mesh.AnnouncedTo(0, *digest);
    REQUIRE(next.size() == 1);
    CHECK(*next.begin() != chosen);
    CHECK(mesh.at(0).replicator->staged_announcements() == 1);
  }
  SECTION("it asks for nothing: after kStagedStall everyone is told") {
    mesh.now += kStagedStall - std::chrono::milliseconds(1);
    mesh.at(0).replicator->Tick();
    CHECK(mesh.AnnouncedTo(0, *digest).empty());
    mesh.now += std::chrono::milliseconds(1);
    mesh.at(0).replicator->Tick();
    std::set<int> others{1, 2, 3};
    others.erase(chosen);
    CHECK(mesh.AnnouncedTo(0, *digest) == others);
    CHECK(mesh.at(0).replicator->staged_announcements() == 0);
  }
  SECTION("it pulls, but slower than kStagedMinRate: everyone is told at the deadline") {
    // A chunk every second keeps it from idling; the deadline is the stall allowance plus the
    // blob's size at the minimum rate (here 2 s + 0 s).
    proto::PeerBlobRequest req{*digest, 0};
    mesh.now += std::chrono::seconds(1);
    mesh.at(0).replicator->OnRequest(Mesh::Id(chosen), req);
    mesh.at(0).replicator->Tick();
    CHECK(mesh.at(0).replicator->staged_announcements() == 1);
    mesh.now += std::chrono::seconds(1);
    req.offset = kBlobChunkBytes;
    mesh.at(0).replicator->OnRequest(Mesh::Id(chosen), req);
    mesh.at(0).replicator->Tick();
    CHECK(mesh.at(0).replicator->staged_announcements() == 0);
  }
}

// An upload as its node does it: stored here (BlobStore::Create and Write), and pushed to its
// first holders chunk by chunk. `done` counts the chunks the push let go.
struct Upload {
  Mesh& mesh;
  Bytes blob;
  std::optional<std::uint64_t> id;
  std::size_t done = 0;
  std::size_t chunks = 0;

  Upload(Mesh& m, std::size_t size) : mesh(m), blob(RandomBlob(size)) {
    id = mesh.at(0).replicator->BeginPush();
  }
  // Pushes the blob in chunks of `chunk` bytes, the last with `last`.
  void Push(std::size_t chunk, bool last = true) {
    REQUIRE(id.has_value());
    for (std::size_t at = 0; at < blob.size(); at += chunk) {
      const std::size_t n = std::min(chunk, blob.size() - at);
      const bool end = last && at + n == blob.size();
      ++chunks;
      mesh.at(0).replicator->PushData(*id,
                                      Bytes(blob.begin() + static_cast<std::ptrdiff_t>(at),
                                            blob.begin() + static_cast<std::ptrdiff_t>(at + n)),
                                      end, [this] { ++done; });
    }
  }
  crypto::Digest StoreHere() {
    auto d = storage::PutBlob(*mesh.at(0).store, blob);
    REQUIRE(d.has_value());
    return *d;
  }
};

TEST_CASE("an upload pushed to its first holder is stored there and makes the blob available",
          "[unit][node]") {
  Mesh mesh(4, 2);
  Upload up(mesh, kStagedAnnounceBytes + 17);
  up.Push(kBlobChunkBytes);
  // f = 1: one peer gets the push, the others nothing.
  const std::set<int> to = mesh.SentTo<proto::PeerBlobPush>(0);
  REQUIRE(to.size() == 1);
  const int receiver = *to.begin();
  const crypto::Digest digest = up.StoreHere();
  // No ack yet: the chunks sent within the window were let go, the others wait for the receiver.
  CHECK(up.done == kPushWindowBytes / kBlobChunkBytes + 1);
  mesh.Run();
  CHECK(up.done == up.chunks);
  CHECK(mesh.at(receiver).replicator->stats().blobs_pushed_in == 1);
  auto copy = storage::GetBlob(*mesh.at(receiver).store, digest);
  REQUIRE(copy.has_value());
  CHECK(*copy == up.blob);
  // The receiver announced it; the uploader counts it with its own copy, so the record would be
  // ordered with no pull of the uploader's copy. The others pulled it meanwhile.
  CHECK(mesh.at(0).replicator->IsAvailable(digest));
  CHECK(mesh.at(0).replicator->stats().bytes_served == 0);
  for (int i = 1; i < 4; ++i) CHECK(mesh.at(i).store->Contains(digest));
  CHECK(mesh.at(0).replicator->pushes_out() == 0);
  CHECK(mesh.at(receiver).replicator->pushes_in() == 0);

  SECTION("a submitted upload that is available already goes to every peer at once") {
    mesh.at(0).replicator->Announce(digest);
    CHECK(mesh.AnnouncedTo(0, digest) == std::set<int>{1, 2, 3});
    CHECK(mesh.at(0).replicator->staged_announcements() == 0);
  }
}

TEST_CASE("a push runs at most its window ahead of its receiver's writes", "[unit][node]") {
  Mesh mesh(2, 2);
  // Upload chunks as the API seals them: 4 MiB of plaintext and 64 tags of 17 bytes.
  const std::size_t chunk = kPushWindowBytes + 1088;
  Upload up(mesh, 3 * chunk);
  up.Push(chunk, false);
  // Acks not delivered yet: the first chunk is let go; the next waits until the receiver has
  // written all but the window of what was sent before it, here the first chunk.
  CHECK(up.done == 1);
  mesh.Run([&](int, int, const proto::PeerMessage& m) {
    if (const auto* ack = std::get_if<proto::PeerBlobPushAck>(&m)) {
      CHECK(up.done == ack->written / chunk);  // before this ack is delivered
    }
  });
  CHECK(up.done == 3);
  CHECK(mesh.at(1).replicator->pushes_in() == 1);  // not ended: no last yet
  mesh.at(0).replicator->PushData(*up.id, {}, true, nullptr);
  mesh.Run();
  CHECK(mesh.at(1).replicator->pushes_in() == 0);
  CHECK(mesh.at(0).replicator->pushes_out() == 0);
  CHECK(mesh.at(1).store->Contains(crypto::Sha256(up.blob)));
}

TEST_CASE("pushes to one receiver share a bound of unacknowledged bytes", "[unit][node]") {
  Mesh mesh(2, 2);
  const std::size_t chunk = 4u << 20;
  std::vector<std::unique_ptr<Upload>> ups;
  for (int i = 0; i < 7; ++i) {
    ups.push_back(std::make_unique<Upload>(mesh, chunk));
    ups.back()->Push(chunk, false);
  }
  // Each push is within its own window; over all of them, the receiver may have 24 MiB
  // unacknowledged: the sixth and seventh uploads wait.
  std::size_t done = 0;
  for (const auto& u : ups) done += u->done;
  CHECK(done == kMaxPushBytesInFlightPerPeer / chunk - 1);
  mesh.Run();
  done = 0;
  for (const auto& u : ups) done += u->done;
  CHECK(done == 7);
}

TEST_CASE("a push's receiver that refuses or stalls or leaves is dropped and the upload goes on",
          "[unit][node]") {
  Mesh mesh(2, 2);
  Upload up(mesh, 3 * kPushWindowBytes);
  up.Push(kPushWindowBytes, false);
  CHECK(up.done == 2);
  SECTION("out of order: the receiver refuses, the sender drops it") {
    bool tampered = false;
    mesh.Run([&](int, int, const proto::PeerMessage& m) {
      if (tampered || !std::holds_alternative<proto::PeerBlobPush>(m)) return;
      // The second message goes missing: the third is out of order.
      if (std::get<proto::PeerBlobPush>(m).offset == 0) {
        tampered = true;
        mesh.wire.erase(std::find_if(mesh.wire.begin(), mesh.wire.end(), [](const auto& w) {
          return std::holds_alternative<proto::PeerBlobPush>(std::get<2>(w));
        }));
      }
    });
    REQUIRE(tampered);
  }
  SECTION("its acks stop: after kPushStall it is dropped") {
    mesh.wire.clear();
    mesh.now += kPushStall - std::chrono::milliseconds(1);
    mesh.at(0).replicator->Tick();
    CHECK(up.done == 2);
    mesh.now += std::chrono::milliseconds(1);
    mesh.at(0).replicator->Tick();
  }
  SECTION("it acknowledges a byte at a time: it is dropped all the same") {
    for (std::uint64_t written = 1; written <= 3; ++written) {
      mesh.now += std::chrono::seconds(1);
      mesh.at(0).replicator->OnPushAck(Mesh::Id(1), proto::PeerBlobPushAck{*up.id, written});
      mesh.at(0).replicator->Tick();
    }
    mesh.wire.clear();
  }
  SECTION("it disconnects") {
    mesh.wire.clear();
    mesh.at(0).replicator->OnPeerDisconnected(Mesh::Id(1));
    mesh.at(1).replicator->OnPeerDisconnected(Mesh::Id(0));
  }
  CHECK(up.done == up.chunks);
  CHECK(mesh.at(0).replicator->stats().push_targets_dropped == 1);
  CHECK(mesh.at(0).replicator->pushes_out() == 0);
  CHECK(mesh.at(1).replicator->pushes_in() == 0);
  CHECK(mesh.at(1).replicator->stats().blobs_pushed_in == 0);
  // What comes later of that push is refused, and nothing was stored.
  mesh.wire.clear();
  mesh.at(1).replicator->OnPush(Mesh::Id(0),
                                proto::PeerBlobPush{*up.id, 3 * kPushWindowBytes, Bytes{1}, true});
  CHECK(mesh.SentTo<proto::PeerBlobPushAck>(1) == std::set<int>{0});
  CHECK(std::get<proto::PeerBlobPushAck>(std::get<2>(mesh.wire.front())).refused);
  auto listed = mesh.at(1).store->List();
  REQUIRE(listed.has_value());
  CHECK(listed->empty());
}

TEST_CASE("a push trickling bytes is dropped, a steady one is not", "[unit][node]") {
  Mesh mesh(2, 2);
  BlobReplicator& r = *mesh.at(1).replicator;
  // Every 5 s (never silent for 10 s): push 1 brings 1 KiB, push 2 brings 1 MiB (200 KiB/s).
  const Bytes small(1024, 7);
  const Bytes large(1u << 20, 8);
  std::uint64_t sent_small = 0, sent_large = 0;
  auto step = [&] {
    r.OnPush(Mesh::Id(0), proto::PeerBlobPush{1, sent_small, small});
    r.OnPush(Mesh::Id(0), proto::PeerBlobPush{2, sent_large, large});
    sent_small += small.size();
    sent_large += large.size();
    mesh.now += std::chrono::seconds(5);
    r.Tick();
  };
  for (int i = 0; i < 6; ++i) step();  // 30 s: within the first largest message's grace
  CHECK(r.pushes_in() == 2);
  for (int i = 0; i < 6; ++i) step();  // 60 s: 12 KiB where 100 KiB/s less 5 MiB is 0.9 MiB
  CHECK(r.pushes_in() == 1);
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{2, sent_large, large, true});  // push 2 ends well
  CHECK(r.pushes_in() == 0);
  CHECK(std::filesystem::is_empty(mesh.dir / "n1" / "tmp"));
}

TEST_CASE("pushes from one peer are bounded and aborted or abandoned ones leave nothing",
          "[unit][node]") {
  Mesh mesh(2, 2);
  BlobReplicator& r = *mesh.at(1).replicator;
  for (std::uint64_t id = 0; id < kMaxIncomingPushesPerPeer; ++id) {
    r.OnPush(Mesh::Id(0), proto::PeerBlobPush{id, 0, Bytes{1, 2, 3}});
  }
  CHECK(r.pushes_in() == kMaxIncomingPushesPerPeer);
  mesh.wire.clear();
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{99, 0, Bytes{1}});
  CHECK(r.pushes_in() == kMaxIncomingPushesPerPeer);
  REQUIRE(mesh.wire.size() == 1);
  const auto& refusal = std::get<proto::PeerBlobPushAck>(std::get<2>(mesh.wire.front()));
  CHECK(refusal.push_id == 99);
  CHECK(refusal.refused);
  // An abort ends one; a sender silent for kPullStall loses the rest.
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{3, 3, {}, false, true});
  CHECK(r.pushes_in() == kMaxIncomingPushesPerPeer - 1);
  mesh.now += std::chrono::seconds(10);
  r.Tick();
  CHECK(r.pushes_in() == 0);
  CHECK(std::filesystem::is_empty(mesh.dir / "n1" / "tmp"));
  auto listed = mesh.at(1).store->List();
  REQUIRE(listed.has_value());
  CHECK(listed->empty());
  // Completed pushes count, apart, until their record commits here (Settle) or they are erased:
  // a peer cannot leave more than that bound of blobs no record names.
  std::vector<crypto::Digest> pushed;
  std::uint64_t id = 100;
  auto push_whole = [&] {
    const Bytes blob = RandomBlob(64);
    r.OnPush(Mesh::Id(0), proto::PeerBlobPush{id++, 0, blob, true});
    return crypto::Sha256(blob);
  };
  for (std::size_t i = 0; i < kMaxUnsettledPushesPerPeer; ++i) {
    pushed.push_back(push_whole());
    REQUIRE(mesh.at(1).store->Contains(pushed.back()));
  }
  CHECK(r.pushes_in() == 0);
  mesh.wire.clear();
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{200, 0, Bytes{7}});
  REQUIRE(mesh.wire.size() == 1);
  CHECK(std::get<proto::PeerBlobPushAck>(std::get<2>(mesh.wire.front())).refused);
  CHECK(r.pushes_in() == 0);
  CHECK_FALSE(mesh.at(1).store->Contains(push_whole()));  // refused too
  // Their records commit, or they are erased: room for as many more.
  r.Settle(pushed[0]);
  REQUIRE(r.Erase(pushed[1]).ok());
  CHECK(mesh.at(1).store->Contains(push_whole()));
  CHECK(mesh.at(1).store->Contains(push_whole()));
  CHECK_FALSE(mesh.at(1).store->Contains(push_whole()));
  // Pushes under way are bounded on their own: a peer at its bound of unsettled blobs is refused
  // even its first.
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{300, 0, Bytes{7}});
  CHECK(r.pushes_in() == 0);
}

TEST_CASE("a push that would leave the disk under its reserve is refused", "[unit][node]") {
  Mesh mesh(2, 2);
  // The Mesh's replicators are built already: this one checks a disk with 1 GiB and 1 KiB free.
  std::uint64_t free = kDiskReserveBytes + 1024;
  BlobReplicator::Hooks hooks;
  hooks.send = [&](std::optional<ReplicaId>, const proto::PeerMessage& m) {
    mesh.wire.emplace_back(1, 0, m);
    return true;
  };
  hooks.is_erased = [](const crypto::Digest&) { return false; };
  hooks.on_available = [](const crypto::Digest&) {};
  hooks.free_bytes = [&]() -> std::optional<std::uint64_t> { return free; };
  BlobReplicator r(
      *mesh.at(1).store, 2, std::move(hooks),
      std::make_shared<spdlog::logger>("t", std::make_shared<spdlog::sinks::null_sink_mt>()));
  r.OnPeerConnected(Mesh::Id(0));
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{1, 0, Bytes(1000, 1)});
  CHECK(r.pushes_in() == 1);
  free -= 1000;
  mesh.wire.clear();
  r.OnPush(Mesh::Id(0), proto::PeerBlobPush{1, 1000, Bytes(1000, 1), true});
  CHECK(r.pushes_in() == 0);
  CHECK(r.stats().blobs_pushed_in == 0);
  REQUIRE(mesh.wire.size() == 1);
  CHECK(std::get<proto::PeerBlobPushAck>(std::get<2>(mesh.wire.front())).refused);
  CHECK(std::filesystem::is_empty(mesh.dir / "n1" / "tmp"));
}

TEST_CASE("a pushed blob of an erased record is not kept", "[unit][node]") {
  Mesh mesh(2, 2);
  const Bytes blob = RandomBlob(1000);
  mesh.at(1).erased.insert(crypto::Sha256(blob));
  mesh.at(1).replicator->OnPush(Mesh::Id(0), proto::PeerBlobPush{5, 0, blob, true});
  CHECK_FALSE(mesh.at(1).store->Contains(crypto::Sha256(blob)));
  CHECK(mesh.at(1).replicator->stats().blobs_pushed_in == 0);
  CHECK(std::get<proto::PeerBlobPushAck>(std::get<2>(mesh.wire.back())).refused);
}

TEST_CASE("a push whose upload stops sending is aborted at its receivers", "[unit][node]") {
  Mesh mesh(2, 2);
  Upload up(mesh, 1000);
  up.Push(1000, false);
  mesh.Run();
  CHECK(mesh.at(1).replicator->pushes_in() == 1);
  mesh.now += std::chrono::seconds(10);
  mesh.at(0).replicator->Tick();
  CHECK(mesh.at(0).replicator->pushes_out() == 0);
  mesh.Run();  // the abort, well before the receiver's own 10 s of silence end it
  CHECK(mesh.at(1).replicator->pushes_in() == 0);
  CHECK(std::filesystem::is_empty(mesh.dir / "n1" / "tmp"));
  // What the upload still sends goes nowhere, and its `done` runs at once.
  const std::size_t before = up.done;
  mesh.at(0).replicator->PushData(*up.id, Bytes{1}, true, [&] { ++up.done; });
  CHECK(up.done == before + 1);
  CHECK(mesh.wire.empty());
}

}  // namespace
}  // namespace ertr::node
