// Fuzz target: a node's blob replicator (node/blob_replicator.h) fed a sequence of peer messages
// as they arrive from three peers: announcements, chunk requests and answers, and pushes of
// uploads with their acknowledgements (ADR 0032), with ticks of the clock and disconnections in
// between, and this node's own pushes of an upload to its first holder. Whatever the sequence,
// nothing crashes, incoming pushes stay within their bound, every `done` of this node's pushes
// runs exactly once, every blob the store ends up with matches its digest, blobs no record names
// are stored only by pushes, and the table of tracked holders and each peer's share of it stay
// within their bounds.
//
// Input: records of [control byte][u16 big-endian length][bytes]. The control byte's two low bits
// pick the sender (peer 1-3); bit 2 advances the clock by 3 s and ticks; bit 3 disconnects the
// sender after the message, and reconnects it. Bit 4: the bytes are instead the next data of this
// node's push (begun if none is open), with `last` if bit 5 is set. Bit 6: a push_ack among the
// messages is about this node's open push (its id is random, so the fuzzer could not name it).
// Bit 7: the record of a blob_have's first digest commits (Settle), if one names it; with bit 2,
// the clock advances 5 minutes instead (tracked digests idle for 15 are swept). Digests whose
// first byte is odd are named by no record; each tick moves the disk's free space through
// unknown, 2 MiB above the reserve, and at the reserve. Two known blobs, one named by a record and
// one not, stand in for what a fuzzer cannot make (content matching an announced digest): a
// blob_have whose first digest starts with 0xaa announces both, and a blob_chunk whose digest
// starts with 0xaa is instead the whole of the one its second byte's low bit picks.
#include <spdlog/sinks/null_sink.h>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>

#include "crypto/init.h"
#include "crypto/sha256.h"
#include "node/blob_replicator.h"
#include "proto/peer_codec.h"
#include "storage/blob_store.h"

namespace {

const std::filesystem::path& Dir() {
  static const std::filesystem::path dir = [] {
    auto d =
        std::filesystem::temp_directory_path() / ("ertr-fuzz-blobs-" + std::to_string(::getpid()));
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace ertr;
  static const bool init = crypto::Init().ok();
  if (!init) std::abort();
  std::filesystem::remove_all(Dir());
  auto store = storage::OpenFileBlobStore(Dir());
  if (!store) std::abort();
  std::chrono::steady_clock::time_point now{std::chrono::hours(1)};
  node::BlobReplicator::Hooks hooks;
  hooks.send = [](std::optional<ReplicaId>, const proto::PeerMessage&) { return true; };
  hooks.is_erased = [](const crypto::Digest& d) { return d.span()[0] == 0xee; };
  hooks.on_available = [](const crypto::Digest&) {};
  hooks.now = [&now] { return now; };
  static const Bytes known[2] = {Bytes(300, 0x11), Bytes(5000, 0x22)};
  static const crypto::Digest known_digest[2] = {crypto::Sha256(known[0]),
                                                 crypto::Sha256(known[1])};
  const auto referenced = [](const crypto::Digest& d) {
    return d == known_digest[0] || (d != known_digest[1] && d.span()[0] % 2 == 0);
  };
  hooks.is_referenced = referenced;
  std::uint64_t ticks = 0;
  hooks.free_bytes = [&ticks]() -> std::optional<std::uint64_t> {
    if (ticks % 3 == 0) return std::nullopt;
    return node::kDiskReserveBytes + (ticks % 3 == 1 ? 2u << 20 : 0);
  };
  node::BlobReplicator r(
      **store, 2, std::move(hooks),
      std::make_shared<spdlog::logger>("fuzz", std::make_shared<spdlog::sinks::null_sink_mt>()));
  for (std::uint32_t p = 1; p <= 3; ++p) r.OnPeerConnected(ReplicaId(p));
  std::optional<std::uint64_t> push;
  std::size_t waiting = 0;  // PushData calls with a `done`
  std::size_t done = 0;     // `done`s that ran

  std::size_t at = 0;
  while (at + 3 <= size) {
    const std::uint8_t control = data[at];
    const std::size_t len =
        std::min<std::size_t>((std::size_t{data[at + 1]} << 8) | data[at + 2], size - at - 3);
    const ByteSpan bytes(data + at + 3, len);
    at += 3 + len;
    const ReplicaId from((control & 3u) % 3 + 1);
    if (control & 16u) {
      if (!push) push = r.BeginPush();
      if (push) {
        ++waiting;
        r.PushData(*push, Bytes(bytes.begin(), bytes.end()), (control & 32u) != 0, [&] { ++done; });
        if (control & 32u) push.reset();
      }
    } else if (auto m = proto::DecodePeerMessage(bytes)) {
      if (auto* a = std::get_if<proto::PeerBlobPushAck>(&*m); a && push && (control & 64u)) {
        a->push_id = *push;
      }
      if (auto* h = std::get_if<proto::PeerBlobHave>(&*m);
          h && !h->digests.empty() && h->digests[0].span()[0] == 0xaa) {
        h->digests = {known_digest[0], known_digest[1]};
      }
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&*m); c && c->digest.span()[0] == 0xaa) {
        const int k = c->digest.span()[1] & 1;
        *c = proto::PeerBlobChunk{known_digest[k], 0, known[k].size(), known[k]};
      }
      if (auto* h = std::get_if<proto::PeerBlobHave>(&*m)) {
        r.OnHave(from, *h);
        if ((control & 128u) && !h->digests.empty() && referenced(h->digests[0])) {
          r.Settle(h->digests[0]);
        }
      }
      if (auto* q = std::get_if<proto::PeerBlobRequest>(&*m)) r.OnRequest(from, *q);
      if (auto* c = std::get_if<proto::PeerBlobChunk>(&*m)) r.OnChunk(from, *c);
      if (auto* p = std::get_if<proto::PeerBlobPush>(&*m)) r.OnPush(from, *p);
      if (auto* a = std::get_if<proto::PeerBlobPushAck>(&*m)) r.OnPushAck(from, *a);
    }
    if (control & 4u) {
      // With bit 7: five minutes (probes are retried; three such steps sweep idle tracked digests).
      now += (control & 128u) ? std::chrono::seconds(300) : std::chrono::seconds(3);
      ++ticks;
      r.Tick();
    }
    if (control & 8u) {
      r.OnPeerDisconnected(from);
      r.OnPeerConnected(from);
    }
    if (r.pushes_in() > 3 * node::kMaxIncomingPushesPerPeer) std::abort();
    // The counts of the holder table (its bound, every peer's share of it) agree with its
    // entries, and stay within their bounds.
    if (!r.TrackingConsistent() || !r.WantedConsistent()) std::abort();
  }
  // Every `done` runs once: when its receivers wrote the data, left, or the node stops.
  if (done > waiting) std::abort();
  r.DropPushes();
  if (done != waiting) std::abort();
  // Whatever was stored is whole and matches its name.
  auto list = (*store)->List();
  if (!list) std::abort();
  std::uint64_t unnamed = 0;
  for (const auto& [d, listed_size] : *list) {
    const auto stored_size = (*store)->Size(d);
    if (!(*store)->Verify(d).ok() || !stored_size || *stored_size != listed_size) std::abort();
    if (!referenced(d)) ++unnamed;
  }
  if (unnamed > r.stats().blobs_pushed_in) std::abort();
  return 0;
}
