#pragma once

// PBFT protocol messages (docs/spec/consensus.md section 3). Every message is signed by its
// sender in its own signing domain over a fixed binary payload (SignedPayload below), so the
// wire encoding (proto/) never affects what is signed.

#include <cstdint>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "consensus/commit_certificate.h"
#include "consensus/proposal.h"
#include "crypto/hash.h"
#include "crypto/signing.h"

namespace ertr::consensus {

// The primary's proposal for (view, height). Signed over u64le(view) || u64le(height) || digest.
struct PrePrepare {
  View view;
  Proposal proposal;
  ReplicaId sender;
  crypto::Signature signature;
};

// A vote (PREPARE or COMMIT) for (view, height, digest), signed over the same payload shape.
struct Vote {
  View view;
  Height height;
  crypto::Digest digest;
  ReplicaId sender;
  crypto::Signature signature;
  bool operator==(const Vote&) const = default;
};
struct Prepare : Vote {};
struct Commit : Vote {};

// A replica's state root after executing `height` (every checkpoint_interval heights).
struct Checkpoint {
  Height height;
  crypto::Digest state_root;
  ReplicaId sender;
  crypto::Signature signature;
};

// Proof that a proposal was prepared in `view`: the proposal and a quorum of matching prepares.
struct PreparedCertificate {
  View view;
  Proposal proposal;
  std::vector<Prepare> prepares;
};

// A replica's request to move to `new_view`, with what it must carry over.
struct ViewChange {
  View new_view;
  Height stable_height;  // its last stable checkpoint (0: none)
  crypto::Digest stable_root;
  std::vector<Checkpoint> checkpoint_proof;   // a quorum of checkpoints for stable_height
  std::vector<PreparedCertificate> prepared;  // for heights above stable_height
  ReplicaId sender;
  crypto::Signature signature;
};

// The new primary's announcement of `view`, with the quorum of view changes it is built from.
// Every replica recomputes the re-proposals from the view changes (section 5).
struct NewView {
  View view;
  std::vector<ViewChange> view_changes;
  ReplicaId sender;
  crypto::Signature signature;
};

// A decided block handed over during catch-up (the driver's block sync supplies these).
struct Decided {
  Proposal proposal;
  std::vector<Commit> commits;  // the commit certificate's votes
  View view;
};

using Message = std::variant<PrePrepare, Prepare, Commit, Checkpoint, ViewChange, NewView>;

// The payloads signed for each message kind (votes: VotePayload in commit_certificate.h).
Bytes CheckpointPayload(Height height, const crypto::Digest& root);
Bytes ViewChangePayload(const ViewChange& vc);
Bytes NewViewPayload(const NewView& nv);

// Short name for logs and counters ("prepare", "view-change", ...).
const char* MessageName(const Message& m);
ReplicaId MessageSender(const Message& m);

}  // namespace ertr::consensus
