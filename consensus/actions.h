#pragma once

// Outputs of the replica, to be executed by the driver strictly in order (STYLE.md rule 1.3):
// a Persist must be durable before any later message leaves, unless it says otherwise
// (Persist::durable_before_send; docs/spec/consensus.md section 7).

#include <cstdint>
#include <map>
#include <optional>
#include <variant>
#include <vector>

#include "consensus/commit_certificate.h"
#include "consensus/events.h"
#include "consensus/messages.h"

namespace ertr::consensus {

// What a replica must remember across a crash (docs/spec/consensus.md section 7).
struct PersistentState {
  View view;  // the view it is in or changing to
  bool view_changing = false;
  // The digest it signed (pre-prepare, prepare or commit) for each (view, height): it never signs
  // another digest for the same pair. Written lazily below the vote horizon.
  std::map<std::pair<View, Height>, crypto::Digest> signed_votes;
  // (view, height): no vote of that view above that height was ever signed. Durable before any
  // vote above the previous horizon leaves; after a restart, votes of that view up to that height
  // that are not in signed_votes are never signed (they may have been, with another digest).
  std::pair<View, Height> vote_horizon;
  std::map<Height, PreparedCertificate> prepared;  // highest-view prepared certificate per height
  Height stable_height;
  crypto::Digest stable_root;
  std::vector<Checkpoint> checkpoint_proof;
};

// A change to the persistent state; applied in order.
struct PersistDelta {
  std::optional<std::pair<View, bool>> view;  // (view, view_changing)
  std::vector<std::pair<std::pair<View, Height>, crypto::Digest>> signed_votes;
  std::optional<std::pair<View, Height>> vote_horizon;
  std::optional<PreparedCertificate> prepared;
  std::optional<std::pair<Height, crypto::Digest>> stable;  // truncates below it
  std::vector<Checkpoint> stable_proof;
};

void ApplyPersistDelta(PersistentState& state, const PersistDelta& delta);

struct Send {
  ReplicaId to;
  Message message;
};
struct Broadcast {  // to every other replica
  Message message;
};
// (Re)arms the timer `id`: it fires once after delay_ms milliseconds plus delay_us microseconds
// unless set again or cancelled. Each timer id is independent of the others.
struct SetTimer {
  TimerId id;
  std::uint64_t delay_ms = 0;
  std::uint64_t delay_us = 0;
};
struct CancelTimer {
  TimerId id;
};
struct Persist {
  PersistDelta delta;
  // False only for votes below the durable vote horizon: the delta may be written with a later
  // durable one, and lost if the replica crashes before that.
  bool durable_before_send = true;
};
// Block `proposal` is decided: execute and store it (with the certificate) in height order.
struct Deliver {
  Proposal proposal;
  CommitCertificate certificate;
  std::uint64_t time_ms = 0;  // effective block time: max(proposed, previous block's)
};
// The replica is behind: fetch decided blocks from `from_height` on (block sync).
struct RequestSync {
  Height from_height;
};

using Action = std::variant<Send, Broadcast, SetTimer, CancelTimer, Persist, Deliver, RequestSync>;

}  // namespace ertr::consensus
