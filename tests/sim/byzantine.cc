// Byzantine wrappers: rewrite or withhold the actions of a replica marked Byzantine. The wrapper
// signs only with that replica's own key, as a real attacker holding one validator key would.

#include "tests/sim/sim_cluster.h"

namespace ertr::sim {

using namespace consensus;

namespace {

template <typename M>
M WithBadSignature(M m) {
  if constexpr (std::is_same_v<M, FetchedTransactions>) {
    // Not signed: the answer's transactions are what it can spoil.
    std::vector<Transaction> txs = m.txs;
    for (auto& tx : txs) tx.bytes.back() ^= 0xff;
    m.txs = std::move(txs);
  } else if constexpr (std::is_same_v<M, FetchedProposal>) {
    // The same: the proposal's transactions, its header kept (ADR 0040).
    std::vector<Transaction> txs = m.proposal.txs.ToVector();
    for (auto& tx : txs) tx.bytes.back() ^= 0xff;
    m.proposal.txs = std::move(txs);
  } else if constexpr (!std::is_same_v<M, FetchTransactions> && !std::is_same_v<M, FetchProposal>) {
    auto a = m.signature.array();
    a[0] ^= 0xff;
    m.signature = crypto::Signature(a);
  }
  return m;
}

}  // namespace

std::vector<Action> SimCluster::Corrupt(std::uint32_t r, std::vector<Action> actions) {
  const Byzantine b = nodes_[r].byzantine;
  if (b == Byzantine::kNone || b == Byzantine::kCensor || b == Byzantine::kGarbage) return actions;
  const crypto::Signer& signer = *nodes_[r].signer;
  auto sign_vote = [&](auto vote, crypto::SigningDomain d) {
    vote.signature = *signer.Sign(d, "ertr-sim", VotePayload(vote.view, vote.height, vote.digest));
    return vote;
  };
  auto random_digest = [&] {
    std::array<std::uint8_t, 32> a{};
    for (auto& x : a) x = static_cast<std::uint8_t>(rng_());
    return crypto::Digest(a);
  };
  // A compact PRE-PREPARE with its transactions filled in again (the Byzantine replica's own
  // replica holds them; the cluster knows every transaction submitted).
  auto full = [&](const PrePrepare& pp) {
    if (!pp.compact()) return pp;
    PrePrepare f = pp;
    std::vector<Transaction> txs;
    for (const auto& id : pp.tx_ids) txs.push_back(submitted_.at(id));
    f.proposal.txs = std::move(txs);
    f.tx_ids.clear();
    return f;
  };
  std::vector<Action> out;
  for (auto& a : actions) {
    auto* bc = std::get_if<Broadcast>(&a);
    auto* sd = std::get_if<consensus::Send>(&a);
    Message* msg = bc ? &bc->message : (sd ? &sd->message : nullptr);
    if (msg == nullptr) {
      out.push_back(std::move(a));
      continue;
    }
    bool is_vote = std::holds_alternative<Prepare>(*msg) || std::holds_alternative<Commit>(*msg);
    switch (b) {
      case Byzantine::kSilent:
        break;
      case Byzantine::kWithholdVotes:
        if (!is_vote) out.push_back(std::move(a));
        break;
      case Byzantine::kBadSignatures:
        std::visit([](auto& m) { m = WithBadSignature(m); }, *msg);
        out.push_back(std::move(a));
        break;
      case Byzantine::kImpersonate:
        std::visit([&](auto& m) { m.sender = ReplicaId((r + 1) % options_.n); }, *msg);
        out.push_back(std::move(a));
        break;
      case Byzantine::kDoubleVote:
        if (auto* p = std::get_if<Prepare>(msg)) {
          Prepare other = *p;
          other.digest = random_digest();
          out.push_back(Broadcast{sign_vote(other, crypto::SigningDomain::kPrepare)});
        } else if (auto* c = std::get_if<Commit>(msg)) {
          Commit other = *c;
          other.digest = random_digest();
          out.push_back(Broadcast{sign_vote(other, crypto::SigningDomain::kCommit)});
        } else if (auto* pp = std::get_if<PrePrepare>(msg)) {
          // As primary, a PREPARE for another hash ahead of its PRE-PREPARE (ADR 0020: the
          // PRE-PREPARE is its vote; the PREPARE must not count in its place).
          Prepare other;
          other.view = pp->view;
          other.height = pp->proposal.header.height;
          other.digest = random_digest();
          other.sender = ReplicaId(r);
          out.push_back(Broadcast{sign_vote(other, crypto::SigningDomain::kPrepare)});
        }
        out.push_back(std::move(a));
        break;
      case Byzantine::kEquivocate:
        if (auto* pp = std::get_if<PrePrepare>(msg); pp && bc) {
          // Half the replicas get the real proposal; the other half a different one for the
          // same (view, height), with its own signed prepare.
          PrePrepare fake = full(*pp);
          fake.proposal = MakeProposal(pp->proposal.header.chain_id, pp->proposal.header.height,
                                       pp->proposal.header.time_ms + 1,
                                       pp->proposal.header.proposer, fake.proposal.txs);
          fake.signature = *signer.Sign(
              crypto::SigningDomain::kPrePrepare, "ertr-sim",
              VotePayload(fake.view, fake.proposal.header.height, fake.proposal.digest));
          Prepare fake_prepare;
          fake_prepare.view = fake.view;
          fake_prepare.height = fake.proposal.header.height;
          fake_prepare.digest = fake.proposal.digest;
          fake_prepare.sender = ReplicaId(r);
          fake_prepare = sign_vote(fake_prepare, crypto::SigningDomain::kPrepare);
          for (std::uint32_t to = 0; to < options_.n; ++to) {
            if (to == r) continue;
            if (to % 2 == 0) {
              out.push_back(consensus::Send{ReplicaId(to), *pp});
            } else {
              out.push_back(consensus::Send{ReplicaId(to), fake});
              out.push_back(consensus::Send{ReplicaId(to), fake_prepare});
            }
          }
        } else {
          out.push_back(std::move(a));
        }
        break;
      case Byzantine::kForgeTransactions:
        if (auto* pp = std::get_if<PrePrepare>(msg); pp && bc) {
          // Each transaction's tag flipped, the ids unchanged; the proposal built and signed
          // anew over them (since ADR 0038 its digest covers the tags), so that only the
          // validity rule (ADR 0022) refuses it. (Its answers to fetches are forged too, below.)
          PrePrepare forged = full(*pp);
          auto txs = forged.proposal.txs.ToVector();
          for (auto& tx : txs) tx.bytes.back() ^= 0xff;
          forged.proposal = MakeProposal(pp->proposal.header.chain_id, pp->proposal.header.height,
                                         pp->proposal.header.time_ms, pp->proposal.header.proposer,
                                         std::move(txs));
          forged.signature = *signer.Sign(
              crypto::SigningDomain::kPrePrepare, "ertr-sim",
              VotePayload(forged.view, forged.proposal.header.height, forged.proposal.digest));
          for (std::uint32_t to = 0; to < options_.n; ++to) {
            if (to != r) out.push_back(consensus::Send{ReplicaId(to), to % 2 == 0 ? *pp : forged});
          }
        } else if (auto* f = std::get_if<FetchedTransactions>(msg)) {
          *f = WithBadSignature(*f);
          out.push_back(std::move(a));
        } else if (auto* fp = std::get_if<FetchedProposal>(msg)) {
          *fp = WithBadSignature(*fp);
          out.push_back(std::move(a));
        } else {
          out.push_back(std::move(a));
        }
        break;
      case Byzantine::kFutureViews: {
        out.push_back(std::move(a));
        if (rng_() % 8 == 0) {
          ViewChange vc;
          vc.new_view = View(nodes_[r].replica->view().value() + 50);
          vc.sender = ReplicaId(r);
          vc.signature =
              *signer.Sign(crypto::SigningDomain::kViewChange, "ertr-sim", ViewChangePayload(vc));
          out.push_back(Broadcast{vc});
        }
        break;
      }
      case Byzantine::kNone:
      case Byzantine::kCensor:
      case Byzantine::kGarbage:  // mangled on the wire (SimCluster::Send)
        out.push_back(std::move(a));
        break;
    }
  }
  return out;
}

}  // namespace ertr::sim
