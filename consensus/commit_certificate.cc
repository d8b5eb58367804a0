#include "consensus/commit_certificate.h"

#include <set>

namespace ertr::consensus {

Bytes VotePayload(View view, Height height, const crypto::Digest& block_hash) {
  Bytes out;
  out.reserve(48);
  PutU64Le(out, view.value());
  PutU64Le(out, height.value());
  Append(out, block_hash.span());
  return out;
}

Status VerifyCommitCertificate(const CommitCertificate& cert, const ValidatorSet& validators,
                               std::string_view chain_id, const crypto::Verifier& verifier) {
  Bytes payload = VotePayload(cert.view, cert.height, cert.block_hash);
  std::set<ReplicaId> signers;
  for (const CommitVote& vote : cert.votes) {
    if (!validators.Contains(vote.replica)) {
      return Status::Unauthenticated("commit certificate for height " + cert.height.ToString() +
                                     " has a vote from replica " + vote.replica.ToString() +
                                     ", which is not in the validator set");
    }
    if (!signers.insert(vote.replica).second) {
      return Status::Unauthenticated("commit certificate for height " + cert.height.ToString() +
                                     " counts replica " + vote.replica.ToString() + " twice");
    }
    if (!verifier.Verify(validators.key(vote.replica), crypto::SigningDomain::kCommit, chain_id,
                         payload, vote.signature)) {
      return Status::Unauthenticated("commit certificate for height " + cert.height.ToString() +
                                     " has an invalid signature from replica " +
                                     vote.replica.ToString());
    }
  }
  if (signers.size() < validators.quorum()) {
    return Status::Unauthenticated("commit certificate for height " + cert.height.ToString() +
                                   " has " + std::to_string(signers.size()) +
                                   " votes; a quorum of " + std::to_string(validators.quorum()) +
                                   " is needed");
  }
  return Status::Ok();
}

}  // namespace ertr::consensus
