#pragma once

// The key shares this node has posted and not yet seen committed, by record and institution, so
// that a share is neither posted twice nor given up:
// - while an admitted share can still commit (the chain is not past its transaction's
//   valid_until_height) it is not posted again, even when a later grant for the same patient
//   finds the envelope still missing;
// - a share the mempool refused (full, or this node's own signer at its limit) is looked at again
//   after a short delay, and one that expired uncommitted once the chain is past its deadline.
// What to post is always decided again against the state of that moment (Node::PostKeyShares);
// this only says when to look.
//
// Thread-safety: one thread (the node's event loop).

#include <chrono>
#include <map>
#include <set>
#include <string>
#include <utility>

#include "common/ids.h"
#include "ledger/types.h"

namespace ertr::node {

class KeyShareBook {
 public:
  using Clock = std::chrono::steady_clock;

  // A share of `record`'s key to `institution` was admitted; its transaction can commit in a block
  // up to `valid_until`, so once the chain holds that block it no longer can.
  void Admitted(const ledger::RecordId& record, const std::string& institution,
                Height valid_until) {
    entries_[{record, institution}] = Entry{valid_until, Clock::time_point::min()};
  }
  // A share was refused at admission: look again at `retry_at`.
  void Refused(const ledger::RecordId& record, const std::string& institution,
               Clock::time_point retry_at) {
    entries_[{record, institution}] = Entry{Height(0), retry_at};
  }
  // A share for the pair committed (accepted or not): nothing is owed for it any more.
  void Committed(const ledger::RecordId& record, const std::string& institution) {
    entries_.erase({record, institution});
  }
  // Whether a share admitted here may still commit once the chain is at `latest`.
  bool InFlight(const ledger::RecordId& record, const std::string& institution,
                Height latest) const {
    auto it = entries_.find({record, institution});
    return it != entries_.end() && it->second.valid_until > latest;
  }
  // The records with a share due for another look at `latest` and `now` (admitted ones that can
  // no longer commit, refused ones whose delay is over); those entries are forgotten.
  std::set<ledger::RecordId> TakeDue(Height latest, Clock::time_point now) {
    std::set<ledger::RecordId> due;
    for (auto it = entries_.begin(); it != entries_.end();) {
      const Entry& e = it->second;
      if (e.valid_until > latest || e.retry_at > now) {
        ++it;
        continue;
      }
      due.insert(it->first.first);
      it = entries_.erase(it);
    }
    return due;
  }
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Height valid_until;          // 0: not admitted
    Clock::time_point retry_at;  // min: at once, once the chain is past valid_until
  };
  std::map<std::pair<ledger::RecordId, std::string>, Entry> entries_;
};

}  // namespace ertr::node
