#pragma once

// PBFT protocol messages (docs/spec/consensus.md section 3). Every message is signed by its
// sender in its own signing domain over a fixed binary payload (SignedPayload below), so the
// wire encoding (proto/) never affects what is signed.

#include <cstdint>
#include <string_view>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/status.h"
#include "consensus/commit_certificate.h"
#include "consensus/proposal.h"
#include "crypto/hash.h"
#include "crypto/signing.h"

namespace ertr::consensus {

// The primary's proposal for (view, height). Signed over u64le(view) || u64le(height) || digest.
// The primary broadcasts it compact (ADR 0026): `proposal.txs` empty and the transactions' ids in
// `tx_ids`, in order. A backup fills in the transactions it holds pending and asks the sender for
// the rest (FetchTransactions). In the full form `tx_ids` is empty.
struct PrePrepare {
  View view;
  Proposal proposal;
  ReplicaId sender;
  crypto::Signature signature;
  std::vector<crypto::Digest> tx_ids = {};

  bool compact() const { return !tx_ids.empty(); }
  // How many transactions the proposal holds, in either form.
  std::size_t transaction_count() const { return compact() ? tx_ids.size() : proposal.txs.size(); }
};

// A backup's request for the transactions of a compact PRE-PREPARE (view, height, digest) that
// it does not hold. Not signed: the transport authenticates the sender, and an answer is checked
// against the proposal's header like any proposal's transactions.
struct FetchTransactions {
  View view;
  Height height;
  crypto::Digest digest;
  std::vector<crypto::Digest> ids;
  ReplicaId sender;
};

// The answer: those of the requested transactions that the sender's accepted proposal for
// (view, height, digest) holds. Their ids are computed by the receiver's decoder, as always.
struct FetchedTransactions {
  View view;
  Height height;
  crypto::Digest digest;
  std::vector<Transaction> txs;
  ReplicaId sender;
};

// A replica's request, on entering a view, for the transactions of a NEW-VIEW's re-proposal
// (view, height, digest) that it does not hold (ADR 0040: a VIEW-CHANGE carries its prepared
// certificates' headers only). Sent to the replicas whose VIEW-CHANGE named that digest. Not
// signed, like FetchTransactions.
struct FetchProposal {
  View view;  // the view the asker entered with the NEW-VIEW
  Height height;
  crypto::Digest digest;
  ReplicaId sender;
};

// The answer: the whole proposal (header and transactions). The asker accepts it only if its
// transactions match the header (CheckProposal) and its digest is the one asked for.
struct FetchedProposal {
  View view;
  Proposal proposal;
  ReplicaId sender;
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

// Proof that the state after `height` has `state_root`: a quorum of CHECKPOINTs of distinct
// validators for it (a stable checkpoint). A node gives its latest to another for state transfer
// (ADR 0037); a VIEW-CHANGE carries one as its checkpoint_proof.
struct CheckpointProof {
  Height height;
  crypto::Digest state_root;
  std::vector<Checkpoint> checkpoints;
};

// Checks that `checkpoints` hold at least quorum() CHECKPOINTs of distinct validators of
// `validators`, each for (height, root) and validly signed; at height 0 (the genesis state, which
// needs no proof), none. Unauthenticated names the first bad one.
Status VerifyCheckpointProof(Height height, const crypto::Digest& root,
                             const std::vector<Checkpoint>& checkpoints,
                             const ValidatorSet& validators, std::string_view chain_id,
                             const crypto::Verifier& verifier);

// Proof that a proposal was prepared in `view`: the proposal and a quorum of matching prepares.
// In a VIEW-CHANGE (and so in a NEW-VIEW) the proposal is its header and digest only (ADR 0040):
// `proposal.txs` is empty while `proposal.header.tx_count` may not be. What a replica persists
// holds the transactions.
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

using Message =
    std::variant<PrePrepare, Prepare, Commit, Checkpoint, ViewChange, NewView, FetchTransactions,
                 FetchedTransactions, FetchProposal, FetchedProposal>;

// The payloads signed for each message kind (votes: VotePayload in commit_certificate.h).
Bytes CheckpointPayload(Height height, const crypto::Digest& root);
Bytes ViewChangePayload(const ViewChange& vc);
Bytes NewViewPayload(const NewView& nv);

// The compact form of a full PRE-PREPARE (ADR 0026): the same header, digest and signature, the
// transactions' ids instead of the transactions. Requires: pp is in the full form.
PrePrepare CompactPrePrepare(const PrePrepare& pp);

// Whether the proposal carries its transactions (every one the header counts); a prepared
// certificate of a VIEW-CHANGE carries the header only (ADR 0040). An empty proposal always does.
inline bool HasTransactions(const Proposal& p) { return p.txs.size() == p.header.tx_count; }
// The certificate with its proposal's header and digest only, as a VIEW-CHANGE carries it.
PreparedCertificate HeaderOnly(const PreparedCertificate& pc);

// Short name for logs and counters ("prepare", "view-change", ...).
const char* MessageName(const Message& m);
ReplicaId MessageSender(const Message& m);

}  // namespace ertr::consensus
