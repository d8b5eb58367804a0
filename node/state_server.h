#pragma once

// Serves this node's state at its stable checkpoints to peers catching up by state transfer (ADR
// 0037, docs/spec/wire.md section 4). The node hands it a snapshot of the state right after it
// appends each checkpoint height's block, and the proof of each stable checkpoint the replica
// reaches; it answers proof and page requests from what it holds.
//
// What it holds:
// - snapshots of checkpoints not yet stable, at most kMaxPending (the oldest dropped first, and
//   every one at or below a newer stable checkpoint);
// - the newest stable checkpoint's snapshot, with its proof, always (until a newer one comes);
// - the one before it while a peer still reads it: dropped after kServedIdle without a request.
// A held snapshot keeps RocksDB from discarding what it sees, so they are few and short-lived.
// Each served snapshot keeps one page cursor (one open scan) while pages are asked of it, closed
// after kCursorIdle without a request.
//
// Thread-safety: one thread (the node's event loop). Time is passed in.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/status.h"
#include "consensus/messages.h"
#include "proto/peer_codec.h"
#include "storage/state_store.h"

namespace ertr::node {

class StateServer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr std::size_t kMaxPending = 4;
  static constexpr std::size_t kMaxServed = 2;
  static constexpr Clock::duration kServedIdle = std::chrono::seconds(60);
  static constexpr Clock::duration kCursorIdle = std::chrono::seconds(10);

  // A snapshot taken right after block snapshot->height() was appended, a checkpoint height.
  void AddSnapshot(std::shared_ptr<const storage::StateSnapshot> snapshot);

  enum class Stable {
    kServed,       // its snapshot is served from now on
    kNoSnapshot,   // none was taken at that height here (the node was behind, or restarted)
    kRootDiffers,  // this node's state at that height is not the certified one: not served
  };
  // The replica's new stable checkpoint (its proof already checked by the replica).
  Stable OnStable(const consensus::CheckpointProof& proof, Clock::time_point now);

  // The encoded proof (proto::EncodeCheckpointProof) of the newest state served; empty if none.
  const Bytes& proof() const;

  // The page asked for, or `not_held` when that height's state is not served. An error only when
  // the store cannot be read (the snapshot is then dropped, and the node logs it).
  Result<proto::PeerStatePage> Page(const proto::PeerStatePageRequest& request,
                                    Clock::time_point now);

  // Drops the idle: older served snapshots after kServedIdle, cursors after kCursorIdle.
  void Expire(Clock::time_point now);

  std::size_t snapshots() const { return pending_.size() + served_.size(); }
  std::uint64_t pages_served() const { return pages_served_; }

 private:
  struct Served {
    std::shared_ptr<const storage::StateSnapshot> snapshot;
    Bytes proof;
    // Declared after the snapshot it reads, so destroyed before it.
    std::unique_ptr<storage::StatePageCursor> cursor;
    Clock::time_point last_request;
  };

  std::map<Height, std::shared_ptr<const storage::StateSnapshot>> pending_;
  std::deque<Served> served_;  // oldest first; the back is the newest stable checkpoint
  std::uint64_t pages_served_ = 0;
};

}  // namespace ertr::node
