#pragma once

// Commit certificate: 2f+1 commit votes of distinct validators for one block. Kept with the
// block, it lets anyone holding the validator set verify offline that the block was decided
// (docs/spec/consensus.md, "Commit certificates").

#include <cstdint>
#include <string_view>
#include <vector>

#include "common/bytes.h"
#include "common/ids.h"
#include "common/status.h"
#include "consensus/validator_set.h"
#include "crypto/hash.h"
#include "crypto/signing.h"

namespace ertr::consensus {

struct CommitVote {
  ReplicaId replica;
  crypto::Signature signature;
};

struct CommitCertificate {
  Height height;
  View view;
  crypto::Digest block_hash;
  std::vector<CommitVote> votes;
};

// The payload every vote signs (PRE-PREPARE, PREPARE and COMMIT, each in its own domain, with
// the chain id): u64le(view) || u64le(height) || block hash (32 bytes).
Bytes VotePayload(View view, Height height, const crypto::Digest& block_hash);

// Checks that the certificate holds at least quorum() valid votes of distinct validators of
// `validators` for (view, height, block_hash). Unauthenticated names the first bad vote.
Status VerifyCommitCertificate(const CommitCertificate& cert, const ValidatorSet& validators,
                               std::string_view chain_id, const crypto::Verifier& verifier);

}  // namespace ertr::consensus
