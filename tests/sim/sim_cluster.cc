#include "tests/sim/sim_cluster.h"

#include <algorithm>
#include <sstream>

#include "consensus/commit_certificate.h"
#include "proto/consensus_codec.h"

namespace ertr::sim {

using namespace consensus;

namespace {
constexpr std::string_view kChain = "ertr-sim";
constexpr std::size_t kTraceLines = 400;
}  // namespace

const char* ByzantineName(Byzantine b) {
  switch (b) {
    case Byzantine::kNone:
      return "none";
    case Byzantine::kSilent:
      return "silent";
    case Byzantine::kEquivocate:
      return "equivocate";
    case Byzantine::kDoubleVote:
      return "double-vote";
    case Byzantine::kBadSignatures:
      return "bad-signatures";
    case Byzantine::kFutureViews:
      return "future-views";
    case Byzantine::kWithholdVotes:
      return "withhold-votes";
    case Byzantine::kCensor:
      return "censor";
    case Byzantine::kImpersonate:
      return "impersonate";
    case Byzantine::kGarbage:
      return "garbage";
    case Byzantine::kForgeTransactions:
      return "forge-transactions";
  }
  return "?";
}

crypto::Digest SimTransactionId(ByteSpan bytes) {
  return crypto::Hash(bytes.first(bytes.size() >= kSimTagBytes ? bytes.size() - kSimTagBytes : 0));
}

bool SimTransactionValid(const consensus::Transaction& tx) {
  if (tx.bytes.size() < kSimTagBytes) return false;
  const crypto::Digest body = SimTransactionId(tx.bytes);
  const auto tag = tx.bytes.end() - static_cast<std::ptrdiff_t>(kSimTagBytes);
  return std::equal(body.span().begin(), body.span().begin() + kSimTagBytes, tag) ||
         std::equal(body.span().begin() + kSimTagBytes, body.span().begin() + 2 * kSimTagBytes,
                    tag);
}

SimCluster::SimCluster(SimOptions options) : options_(options), rng_(options.seed) {
  std::vector<crypto::PublicKey> pks;
  nodes_.resize(options_.n);
  for (std::uint32_t i = 0; i < options_.n; ++i) {
    std::array<std::uint8_t, 32> secret{};
    for (auto& b : secret) b = static_cast<std::uint8_t>(rng_());
    if (options_.real_crypto) {
      auto key = *crypto::SigningKey::FromSeed(secret);
      pks.push_back(key.public_key());
      nodes_[i].signer =
          std::make_unique<CountingSigner>(crypto::MakeEd25519Signer(std::move(key)));
    } else {
      pks.push_back(keys_.Add(secret));
      nodes_[i].signer =
          std::make_unique<CountingSigner>(std::make_unique<FakeSigner>(keys_, pks.back()));
    }
  }
  if (options_.real_crypto) {
    checker_verifier_ = crypto::MakeEd25519Verifier();
  } else {
    checker_verifier_ = std::make_unique<FakeVerifier>(keys_);
  }
  verifier_ = std::make_unique<CountingVerifier>(*checker_verifier_);
  validators_ = *ValidatorSet::Create(pks);
  for (std::uint32_t i = 0; i < options_.n; ++i) {
    nodes_[i].replica = std::make_unique<Replica>(Config(i), *nodes_[i].signer, *verifier_);
  }
}

ReplicaConfig SimCluster::Config(std::uint32_t r) const {
  ReplicaConfig c;
  c.chain_id = std::string(kChain);
  c.validators = validators_;
  c.self = ReplicaId(r);
  c.pipeline_window = options_.pipeline_window;
  c.min_pipelined_batch = options_.min_pipelined_batch;
  c.batch_wait_us = options_.batch_wait_us;
  c.checkpoint_interval = options_.checkpoint_interval;
  c.max_block_transactions = options_.max_block_transactions;
  c.view_timeout_ms = options_.view_timeout_ms;
  c.quorum_override_for_tests = options_.quorum_override_for_tests;
  c.transaction_valid = SimTransactionValid;
  c.compact_pre_prepares = options_.compact_pre_prepares;
  c.primary_link_timeout_ms = options_.primary_link_timeout_ms;
  return c;
}

void SimCluster::Log(const std::string& line) {
  trace_.push_back("t=" + std::to_string(now_) + " " + line);
  if (trace_.size() > kTraceLines) trace_.pop_front();
}

void SimCluster::Fail(const std::string& what) {
  if (violation_.empty()) violation_ = "t=" + std::to_string(now_) + ": " + what;
  Log("VIOLATION " + what);
}

std::string SimCluster::Trace() const {
  std::ostringstream out;
  for (const auto& l : trace_) out << l << "\n";
  return out.str();
}

void SimCluster::Schedule(std::uint64_t at, Item item) {
  queue_.emplace(std::make_pair(at, sequence_++), std::move(item));
}

void SimCluster::Submit(std::size_t count) { SubmitLate(count, 0, 0); }

void SimCluster::SubmitLate(std::size_t count, std::uint32_t first, std::uint64_t late_ms) {
  std::vector<Transaction> txs;
  for (std::size_t i = 0; i < count; ++i) {
    Transaction tx;
    tx.bytes = ToBytes("tx-" + std::to_string(submitted_.size()) + "-" + std::to_string(rng_()));
    tx.id = crypto::Hash(tx.bytes);
    tx.bytes.insert(tx.bytes.end(), tx.id.span().begin(), tx.id.span().begin() + kSimTagBytes);
    submitted_[tx.id] = tx;
    txs.push_back(std::move(tx));
  }
  Log("submit " + std::to_string(count));
  for (std::uint32_t r = 0; r < options_.n; ++r) {
    Schedule(now_ + (r == first ? 0 : late_ms) + rng_() % 5,
             Item{r, Event{0, TransactionsReceived{txs}}, 0});
  }
}

void SimCluster::SubmitDoubleSigned(std::size_t count) {
  std::vector<Transaction> first;
  std::vector<Transaction> second;
  for (std::size_t i = 0; i < count; ++i) {
    Transaction tx;
    tx.bytes = ToBytes("tx2-" + std::to_string(submitted_.size()) + "-" + std::to_string(rng_()));
    tx.id = crypto::Hash(tx.bytes);
    Transaction other = tx;
    tx.bytes.insert(tx.bytes.end(), tx.id.span().begin(), tx.id.span().begin() + kSimTagBytes);
    other.bytes.insert(other.bytes.end(), tx.id.span().begin() + kSimTagBytes,
                       tx.id.span().begin() + 2 * kSimTagBytes);
    submitted_[tx.id] = tx;
    second_copies_[tx.id] = other.bytes;
    first.push_back(std::move(tx));
    second.push_back(std::move(other));
  }
  Log("submit " + std::to_string(count) + " signed twice");
  for (std::uint32_t r = 0; r < options_.n; ++r) {
    Schedule(now_ + rng_() % 5, Item{r, Event{0, TransactionsReceived{r % 2 ? second : first}}, 0});
  }
}

void SimCluster::Send(std::uint32_t from, std::uint32_t to, const Message& m) {
  bool cut = !partition_.empty() && (partition_.count(from) != partition_.count(to));
  if (cut) return;
  // A link that is down (DropLink) loses what is sent over it, as the transport does.
  if (auto l = link_down_until_.find(LinkKey(from, to));
      l != link_down_until_.end() && now_ < l->second) {
    return;
  }
  std::uniform_real_distribution<double> u(0, 1);
  if (!healed_ && u(rng_) < options_.drop) return;
  int copies = (!healed_ && u(rng_) < options_.duplicate) ? 2 : 1;
  // Every message crosses the "network" as bytes through the real wire codec.
  Bytes bytes = proto::EncodeConsensusMessage(m);
  if (nodes_[from].byzantine == Byzantine::kGarbage && !bytes.empty()) {
    switch (rng_() % 3) {
      case 0:
        for (int k = 0; k < 4; ++k)
          bytes[rng_() % bytes.size()] ^= static_cast<std::uint8_t>(rng_());
        break;
      case 1:
        bytes.resize(rng_() % bytes.size());
        break;
      default:
        for (auto& b : bytes) b = static_cast<std::uint8_t>(rng_());
    }
  }
  for (int i = 0; i < copies; ++i) {
    std::uint64_t delay =
        options_.min_delay_ms + rng_() % (options_.max_delay_ms - options_.min_delay_ms + 1);
    Item item(to, Event{});
    item.wire = bytes;
    item.from = from;
    Schedule(now_ + delay, std::move(item));
  }
}

void SimCluster::RunUntil(std::uint64_t until_ms) {
  while (ok() && !queue_.empty() && queue_.begin()->first.first <= until_ms) {
    auto it = queue_.begin();
    std::uint64_t at = it->first.first;
    Item item = std::move(it->second);
    queue_.erase(it);
    Step(at, std::move(item));
  }
  if (ok()) now_ = std::max(now_, until_ms);
}

bool SimCluster::RunUntilAllDelivered(std::uint64_t deadline_ms) {
  while (ok() && now_ < deadline_ms) {
    bool done = true;
    for (std::uint32_t r = 0; r < options_.n && done; ++r) {
      if (!nodes_[r].alive || !IsHonest(r)) continue;
      done = nodes_[r].executed.size() == submitted_.size();
    }
    if (done) return true;
    RunUntil(std::min(deadline_ms, now_ + 100));
  }
  return false;
}

void SimCluster::Step(std::uint64_t at, Item item) {
  now_ = std::max(now_, at);
  Node& node = nodes_[item.to];
  if (!node.alive) return;
  bool is_timer = std::holds_alternative<TimerFired>(item.event.body);
  if (const auto* t = std::get_if<TimerFired>(&item.event.body);
      t && item.timer_generation != node.Generation(t->id)) {
    return;  // re-armed or cancelled
  }
  if (const auto* link = std::get_if<consensus::PeerLink>(&item.event.body)) {
    // Superseded by a later report about the same link (a crash, a restart, another reset).
    if (item.timer_generation != link_epoch_[LinkKey(item.to, link->peer.value())]) return;
  }
  if (node.byzantine == Byzantine::kCensor) {
    if (auto* t = std::get_if<TransactionsReceived>(&item.event.body)) {
      std::erase_if(t->txs, [](const Transaction& tx) { return tx.id.data()[0] % 2 == 0; });
    }
  }
  if (item.wire) {
    auto decoded = proto::DecodeConsensusMessage(
        *item.wire, [](ByteSpan b) -> Result<crypto::Digest> { return SimTransactionId(b); });
    if (!decoded) {
      ++undecodable_;
      Log("r" + std::to_string(item.to) + " refuses bytes from r" + std::to_string(item.from) +
          ": " + decoded.error().message().substr(0, 80));
      return;
    }
    item.event.body = MessageReceived{ReplicaId(item.from), std::move(*decoded)};
  }
  item.event.now_ms = now_;
  if (auto* m = std::get_if<MessageReceived>(&item.event.body)) {
    Log("r" + std::to_string(item.to) + " <- r" + m->from.ToString() + " " +
        MessageName(m->message));
  } else if (is_timer) {
    Log("r" + std::to_string(item.to) + " timer (view " +
        std::to_string(node.replica->view().value()) + ")");
  }
  std::vector<Action> actions = node.replica->Handle(item.event);
  actions = Corrupt(item.to, std::move(actions));
  std::size_t limit = actions.size();
  if (node.crash_mid_actions) limit = actions.empty() ? 0 : rng_() % (actions.size() + 1);
  if (node.crash_after_delivery) {
    for (std::size_t i = 0; i < actions.size(); ++i) {
      if (!std::holds_alternative<Deliver>(actions[i])) continue;
      limit = i + 1;
      node.crash_mid_actions = true;
      break;
    }
  }
  for (std::size_t i = 0; i < limit && ok(); ++i) Execute(item.to, actions[i]);
  if (node.crash_mid_actions) {
    Log("r" + std::to_string(item.to) + " crashed after " + std::to_string(limit) + " of " +
        std::to_string(actions.size()) + " actions");
    node.crash_mid_actions = false;
    node.crash_after_delivery = false;
    Crash(item.to);
  }
}

void SimCluster::Execute(std::uint32_t r, const Action& a) {
  Node& node = nodes_[r];
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, consensus::Send>) {
          if (std::holds_alternative<Checkpoint>(x.message)) SyncBeforeCheckpoint(node);
          CheckPersistedBeforeSend(r, x.message);
          Send(r, x.to.value(), x.message);
        } else if constexpr (std::is_same_v<T, Broadcast>) {
          if (std::holds_alternative<Checkpoint>(x.message)) SyncBeforeCheckpoint(node);
          CheckPersistedBeforeSend(r, x.message);
          for (std::uint32_t to = 0; to < options_.n; ++to) {
            if (to != r) Send(r, to, x.message);
          }
        } else if constexpr (std::is_same_v<T, SetTimer>) {
          // The simulation's clock counts milliseconds: a wait in microseconds is rounded up.
          const std::uint64_t delay = x.delay_ms + (x.delay_us + 999) / 1000;
          Log("r" + std::to_string(r) + " set-timer " + std::to_string(static_cast<int>(x.id)) +
              " " + std::to_string(delay));
          Schedule(now_ + delay, Item{r, Event{0, TimerFired{x.id}}, ++node.Generation(x.id)});
        } else if constexpr (std::is_same_v<T, CancelTimer>) {
          Log("r" + std::to_string(r) + " cancel-timer " + std::to_string(static_cast<int>(x.id)));
          ++node.Generation(x.id);
        } else if constexpr (std::is_same_v<T, Persist>) {
          if (!x.durable_before_send) {
            node.unsynced.push_back(x.delta);
            return;
          }
          Sync(node);  // one log: what came before is synced with it
          ApplyPersistDelta(node.durable, x.delta);
        } else if constexpr (std::is_same_v<T, Deliver>) {
          CheckSafety(r, x);
          // Execute once: a transaction already executed here is skipped (replay protection).
          for (const auto& tx : x.proposal.txs) {
            if (!node.executed.insert(tx.id).second) ++redecided_;
          }
          node.delivered.push_back(x);
          // The executor's state root: a hash chain over what it executed, block by block.
          crypto::Hasher root;
          root.Update(node.state_root.span());
          for (const auto& tx : x.proposal.txs) root.Update(tx.id.span());
          node.state_root = root.Finish();
          node.roots.push_back(node.state_root);
          Schedule(now_,
                   Item{r, Event{0, BlockExecuted{x.proposal.header.height, node.state_root}}, 0});
        } else if constexpr (std::is_same_v<T, RequestSync>) {
          // Block sync: fetch from the honest live node that has delivered the most.
          std::optional<std::uint32_t> best;
          for (std::uint32_t p = 0; p < options_.n; ++p) {
            if (p == r || !nodes_[p].alive || !IsHonest(p)) continue;
            if (!partition_.empty() && partition_.count(p) != partition_.count(r)) continue;
            if (!best || nodes_[p].delivered.size() > nodes_[*best].delivered.size()) best = p;
          }
          if (!best) return;
          Log("r" + std::to_string(r) + " syncs from r" + std::to_string(*best) + " at height " +
              x.from_height.ToString());
          const auto& src = nodes_[*best].delivered;
          for (std::uint64_t h = x.from_height.value(); h <= src.size(); ++h) {
            const Deliver& d = src[h - 1];
            Decided dec{d.proposal, {}, d.certificate.view};
            for (const auto& v : d.certificate.votes) {
              Commit c;
              c.view = d.certificate.view;
              c.height = d.certificate.height;
              c.digest = d.certificate.block_hash;
              c.sender = v.replica;
              c.signature = v.signature;
              dec.commits.push_back(c);
            }
            Schedule(now_ + options_.max_delay_ms, Item{r, Event{0, DecidedReceived{dec}}, 0});
          }
        }
      },
      a);
}

void SimCluster::SyncBeforeCheckpoint(Node& node) {
  // The driver holds a CHECKPOINT for a sync only while delivered blocks are unsynced.
  if (node.durable_blocks < node.delivered.size()) Sync(node);
}

void SimCluster::Sync(Node& node) {
  for (const auto& d : node.unsynced) ApplyPersistDelta(node.durable, d);
  node.unsynced.clear();
  node.durable_blocks = node.delivered.size();
}

// Persist-before-send (section 7): a vote leaves an honest replica only once the vote, and for a
// commit the prepared certificate, are in its durable state.
void SimCluster::CheckPersistedBeforeSend(std::uint32_t r, const Message& m) {
  const Node& node = nodes_[r];
  if (!IsHonest(r)) return;
  auto check_vote = [&](View v, Height h, const crypto::Digest& d, const char* what) {
    // Never two digests for one (view, height), whatever crashes happened in between.
    auto [signed_it, first] = nodes_[r].ever_signed.emplace(std::make_pair(v, h), d);
    if (!first && signed_it->second != d) {
      Fail(std::string("equivocation: honest r") + std::to_string(r) + " sent a " + what +
           " for view " + v.ToString() + " height " + h.ToString() + " with another digest");
    }
    if (h <= node.durable.stable_height) return;
    // Persisted, or under a durable vote horizon of its view.
    const auto& horizon = node.durable.vote_horizon;
    if (horizon.first == v && h <= horizon.second) return;
    auto it = node.durable.signed_votes.find({v, h});
    if (it == node.durable.signed_votes.end() || it->second != d) {
      Fail(std::string("persist-before-send: r") + std::to_string(r) + " sent a " + what +
           " for view " + v.ToString() + " height " + h.ToString() + " before persisting it");
    }
  };
  if (const auto* pp = std::get_if<PrePrepare>(&m)) {
    check_vote(pp->view, pp->proposal.header.height, pp->proposal.digest, "pre-prepare");
  } else if (const auto* p = std::get_if<Prepare>(&m)) {
    check_vote(p->view, p->height, p->digest, "prepare");
  } else if (const auto* c = std::get_if<Commit>(&m)) {
    check_vote(c->view, c->height, c->digest, "commit");
    auto pc = node.durable.prepared.find(c->height);
    if (c->height > node.durable.stable_height &&
        (pc == node.durable.prepared.end() || pc->second.view < c->view)) {
      Fail("persist-before-send: r" + std::to_string(r) + " sent a commit for height " +
           c->height.ToString() + " before persisting its prepared certificate");
    }
  }
}

void SimCluster::CheckSafety(std::uint32_t r, const Deliver& d) {
  const Node& node = nodes_[r];
  const std::uint64_t h = d.proposal.header.height.value();
  if (h != node.delivered.size() + 1) {
    Fail("r" + std::to_string(r) + " delivered height " + std::to_string(h) + " after " +
         std::to_string(node.delivered.size()));
    return;
  }
  if (!IsHonest(r)) return;
  Log("r" + std::to_string(r) + " delivers h=" + std::to_string(h) + " " +
      d.proposal.digest.ShortHex() + " txs=" + std::to_string(d.proposal.txs.size()));
  // Agreement: no two honest replicas decide different blocks at a height.
  auto [it, inserted] = decided_.emplace(h, d.proposal.digest);
  if (!inserted && it->second != d.proposal.digest) {
    Fail("agreement: r" + std::to_string(r) + " decided " + d.proposal.digest.ShortHex() +
         " at height " + std::to_string(h) + ", another honest replica decided " +
         it->second.ShortHex());
  }
  // Certificate validity: the commit certificate verifies offline against the validator set.
  auto cert = VerifyCommitCertificate(d.certificate, validators_, kChain, *checker_verifier_);
  if (!cert.ok() || d.certificate.block_hash != d.proposal.digest) {
    Fail("certificate at height " + std::to_string(h) + " on r" + std::to_string(r) + ": " +
         cert.ToString());
  }
  if (!CheckProposal(d.proposal).ok()) Fail("delivered proposal is malformed");
  // Validity: only submitted transactions, none twice within a block. A transaction decided again
  // in a later block (two prepared certificates from different views, section 5) is executed once:
  // the executor skips it, as the chain code's replay protection does. Count those.
  std::set<crypto::Digest> in_block;
  for (const auto& tx : d.proposal.txs) {
    auto s = submitted_.find(tx.id);
    auto second = second_copies_.find(tx.id);
    if (s == submitted_.end() || (s->second.bytes != tx.bytes &&
                                  (second == second_copies_.end() || second->second != tx.bytes))) {
      Fail("validity: height " + std::to_string(h) + " holds a transaction nobody submitted");
    }
    if (!in_block.insert(tx.id).second) {
      Fail("validity: transaction " + tx.id.ShortHex() + " appears twice in block " +
           std::to_string(h) + " on r" + std::to_string(r));
    }
  }
}

void SimCluster::Crash(std::uint32_t r) {
  Node& node = nodes_[r];
  if (!node.alive) return;
  const std::size_t lost_blocks = node.delivered.size() - node.durable_blocks;
  Log("r" + std::to_string(r) + " CRASH" +
      (node.unsynced.empty()
           ? ""
           : " losing " + std::to_string(node.unsynced.size()) + " unsynced persists") +
      (lost_blocks == 0 ? "" : " and " + std::to_string(lost_blocks) + " unsynced blocks"));
  node.alive = false;
  node.replica.reset();
  node.unsynced.clear();
  lost_blocks_ += lost_blocks;
  // The block store's unsynced tail is gone, and what it executed with it.
  node.delivered.resize(node.durable_blocks);
  node.roots.resize(node.durable_blocks);
  node.state_root = node.roots.empty() ? crypto::Digest{} : node.roots.back();
  node.executed.clear();
  for (const auto& d : node.delivered) {
    for (const auto& tx : d.proposal.txs) node.executed.insert(tx.id);
  }
  for (auto& g : node.timer_generation) ++g;  // its process ended: no timer of it fires
  // Its peers' links to it close when its process ends (the kernel resets them).
  for (std::uint32_t p = 0; p < options_.n; ++p) {
    if (p == r) continue;
    ++link_epoch_[LinkKey(p, r)];
    TellLink(p, r, false,
             now_ + options_.min_delay_ms +
                 rng_() % (options_.max_delay_ms - options_.min_delay_ms + 1));
  }
}

std::pair<std::uint32_t, std::uint32_t> SimCluster::LinkKey(std::uint32_t a, std::uint32_t b) {
  return {std::min(a, b), std::max(a, b)};
}

void SimCluster::TellLink(std::uint32_t to, std::uint32_t peer, bool connected, std::uint64_t at) {
  Schedule(at, Item{to, Event{0, consensus::PeerLink{ReplicaId(peer), connected}},
                    link_epoch_[LinkKey(to, peer)]});
}

void SimCluster::DropLink(std::uint32_t a, std::uint32_t b, std::uint64_t down_ms) {
  if (!nodes_[a].alive || !nodes_[b].alive) return;  // down already, until the restart
  Log("LINK r" + std::to_string(a) + "-r" + std::to_string(b) + " down for " +
      std::to_string(down_ms) + " ms");
  auto& until = link_down_until_[LinkKey(a, b)];
  until = std::max(until, now_ + down_ms);
  ++link_epoch_[LinkKey(a, b)];  // one reset within another: up only at the end of both
  for (auto [to, peer] : {std::pair{a, b}, std::pair{b, a}}) {
    TellLink(to, peer, false, now_ + options_.min_delay_ms);
    TellLink(to, peer, true, until + options_.min_delay_ms);
  }
}

void SimCluster::CrashMidActions(std::uint32_t r) { nodes_[r].crash_mid_actions = true; }

void SimCluster::CrashAfterNextDelivery(std::uint32_t r) { nodes_[r].crash_after_delivery = true; }

void SimCluster::Restart(std::uint32_t r) {
  Node& node = nodes_[r];
  node.crash_mid_actions = false;  // a crash that has not happened yet is called off
  node.crash_after_delivery = false;
  if (node.alive) return;
  Log("r" + std::to_string(r) + " RESTART at height " + std::to_string(node.delivered.size()));
  std::uint64_t last_time = node.delivered.empty() ? 0 : node.delivered.back().time_ms;
  node.replica = std::make_unique<Replica>(Config(r), *node.signer, *verifier_, node.durable,
                                           Height(node.delivered.size()), last_time);
  node.alive = true;
  // The mempool is refilled by gossip: everything not yet delivered here.
  std::set<crypto::Digest> have;
  for (const auto& d : node.delivered) {
    for (const auto& tx : d.proposal.txs) have.insert(tx.id);
  }
  std::vector<Transaction> txs;
  for (const auto& [id, tx] : submitted_) {
    if (!have.count(id)) txs.push_back(tx);
  }
  Schedule(now_ + 1, Item{r, Event{0, TransactionsReceived{txs}}, 0});
  Schedule(now_ + 1, Item{r, Event{0, TimerFired{TimerId::kViewChange}},
                          ++node.Generation(TimerId::kViewChange)});
  // It dials its peers again: after any report of its crash (sent at most max_delay_ms after it).
  for (std::uint32_t p = 0; p < options_.n; ++p) {
    if (p == r) continue;
    link_down_until_.erase(LinkKey(p, r));  // its new connections carry messages
    ++link_epoch_[LinkKey(p, r)];
    TellLink(p, r, true, now_ + options_.max_delay_ms + 1);
  }
}

void SimCluster::RestartWithoutConsensusLog(std::uint32_t r) {
  Crash(r);
  Log("r" + std::to_string(r) + " LOSES its consensus log");
  nodes_[r].durable = consensus::PersistentState{};
  Restart(r);
}

void SimCluster::Partition(const std::set<std::uint32_t>& side) {
  std::string s;
  for (auto r : side) s += " r" + std::to_string(r);
  Log("PARTITION" + s);
  partition_ = side;
}

void SimCluster::Heal() {
  Log("HEAL");
  partition_.clear();
  link_down_until_.clear();
  healed_ = true;
}

void SimCluster::SetByzantine(std::uint32_t r, Byzantine b) { nodes_[r].byzantine = b; }

std::string SimCluster::Summary() const {
  std::ostringstream out;
  for (std::uint32_t r = 0; r < options_.n; ++r) {
    const Node& n = nodes_[r];
    out << "r" << r << (n.alive ? "" : " (down)") << " " << ByzantineName(n.byzantine)
        << ": height " << n.delivered.size() << ", executed " << n.executed.size() << "/"
        << submitted_.size();
    if (n.replica) {
      const auto& st = n.replica->stats();
      out << ", view " << n.replica->view().value() << (n.replica->view_changing() ? "*" : "")
          << ", pending " << n.replica->pending_transactions() << ", stable "
          << n.replica->stable_height().value() << ", dropped sig/window/invalid "
          << st.dropped_bad_signature << "/" << st.dropped_out_of_window << "/"
          << st.dropped_invalid << ", views entered " << st.views_entered << ", view changes "
          << st.view_changes_started << ", fetched " << st.transactions_fetched
          << ", re-proposals fetched/answered " << st.proposals_fetched << "/"
          << st.proposal_fetches_answered;
    }
    out << "\n";
  }
  return out.str();
}

std::uint64_t SimCluster::delivered_height(std::uint32_t r) const {
  return nodes_[r].delivered.size();
}

std::uint64_t SimCluster::max_view() const {
  std::uint64_t v = 0;
  for (const auto& n : nodes_) {
    if (n.replica) v = std::max(v, n.replica->view().value());
  }
  return v;
}

std::uint64_t SimCluster::signatures_made() const {
  std::uint64_t total = 0;
  for (const auto& n : nodes_) total += n.signer->count();
  return total;
}

std::uint64_t SimCluster::SumOfLive(std::uint64_t consensus::ReplicaStats::*counter) const {
  std::uint64_t v = 0;
  for (const auto& n : nodes_) {
    if (n.replica) v += n.replica->stats().*counter;
  }
  return v;
}

}  // namespace ertr::sim
