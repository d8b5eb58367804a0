#include "node/state_server.h"

#include <utility>

#include "proto/consensus_codec.h"

namespace ertr::node {

void StateServer::AddSnapshot(std::shared_ptr<const storage::StateSnapshot> snapshot) {
  const Height h = snapshot->height();
  // One at or below a served checkpoint can never become the newest stable one.
  if (!served_.empty() && h <= served_.back().snapshot->height()) return;
  pending_[h] = std::move(snapshot);
  while (pending_.size() > kMaxPending) pending_.erase(pending_.begin());
}

StateServer::Stable StateServer::OnStable(const consensus::CheckpointProof& proof,
                                          Clock::time_point now) {
  auto it = pending_.find(proof.height);
  std::shared_ptr<const storage::StateSnapshot> snapshot;
  if (it != pending_.end()) snapshot = std::move(it->second);
  pending_.erase(pending_.begin(), pending_.upper_bound(proof.height));
  if (!snapshot) return Stable::kNoSnapshot;
  if (snapshot->root() != proof.state_root) return Stable::kRootDiffers;
  served_.push_back(Served{std::move(snapshot), proto::EncodeCheckpointProof(proof), nullptr, now});
  while (served_.size() > kMaxServed) served_.pop_front();
  return Stable::kServed;
}

const Bytes& StateServer::proof() const {
  static const Bytes kNone;
  return served_.empty() ? kNone : served_.back().proof;
}

Result<proto::PeerStatePage> StateServer::Page(const proto::PeerStatePageRequest& request,
                                               Clock::time_point now) {
  proto::PeerStatePage page;
  page.height = request.height;
  page.after_key = request.after_key;
  auto it = served_.begin();
  while (it != served_.end() && it->snapshot->height() != request.height) ++it;
  if (it == served_.end()) {
    page.not_held = true;
    return page;
  }
  it->last_request = now;
  if (!it->cursor) it->cursor = it->snapshot->OpenCursor();
  std::optional<Bytes> after;
  if (!request.after_key.empty()) after = request.after_key;
  auto read =
      it->cursor->Next(after, std::min<std::size_t>(request.max_bytes, proto::kMaxStatePageBytes));
  if (!read) {
    served_.erase(it);
    return read.error().WithContext("reading the state at height " + request.height.ToString() +
                                    " for a peer");
  }
  if (read->entries.empty()) {
    // Past the last key: the asker went beyond what an honest one asks for. Nothing to send.
    page.not_held = true;
    return page;
  }
  page.entries = std::move(read->entries);
  page.more = read->more;
  ++pages_served_;
  return page;
}

void StateServer::Expire(Clock::time_point now) {
  for (auto it = served_.begin(); it != served_.end();) {
    const bool newest = std::next(it) == served_.end();
    if (!newest && now - it->last_request >= kServedIdle) {
      it = served_.erase(it);
      continue;
    }
    if (it->cursor && now - it->last_request >= kCursorIdle) it->cursor.reset();
    ++it;
  }
}

}  // namespace ertr::node
