#pragma once

// The API calls waiting for their transactions' commits, by transaction id. Several calls may
// wait for the same transaction (a retry while the first call still waits). A Swiss table with
// the waiters inline: at the null-op peak one validator holds thousands of waiters and looks up
// every committed transaction; the std::multimap this replaces (a tree node per waiter, about a
// dozen 32-byte comparisons per look-up) cost about 5 % of that peak (docs/benchmarks.md).
//
// Thread-safety: one thread (the node's event loop). Nothing here depends on iteration order:
// what is taken together is told together, and each waiter is told once.

#include <absl/container/inlined_vector.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "crypto/digest_table.h"
#include "storage/block_store.h"

namespace ertr::ledger {
struct TxResult;
}

namespace ertr::node {

struct CommitWaiter {
  std::chrono::steady_clock::time_point deadline;
  // Called once: with the committed block and index; or with no block and `dropped`, why the
  // node dropped the transaction uncommitted; or with neither (timeout / shutdown).
  std::function<void(const storage::StoredBlock*, std::uint32_t, const ledger::TxResult*,
                     const std::string* dropped)>
      done;
};

class CommitWaiters {
 public:
  using List = absl::InlinedVector<CommitWaiter, 1>;

  void Add(const crypto::Digest& id, CommitWaiter waiter) {
    by_id_[id].push_back(std::move(waiter));
    ++size_;
  }

  // Removes and returns the waiters of `id`; none if nobody waits for it.
  List Take(const crypto::Digest& id) {
    auto it = by_id_.find(id);
    if (it == by_id_.end()) return {};
    List out = std::move(it->second);
    by_id_.erase(it);
    size_ -= out.size();
    return out;
  }

  // Removes and returns every waiter whose deadline is not after `now`.
  std::vector<CommitWaiter> TakeExpired(std::chrono::steady_clock::time_point now) {
    std::vector<CommitWaiter> out;
    absl::erase_if(by_id_, [&](auto& entry) {
      List& list = entry.second;
      for (auto it = list.begin(); it != list.end();) {
        if (it->deadline > now) {
          ++it;
          continue;
        }
        out.push_back(std::move(*it));
        it = list.erase(it);
      }
      return list.empty();
    });
    size_ -= out.size();
    return out;
  }

  // Removes and returns every waiter (the node is stopping).
  std::vector<CommitWaiter> TakeAll() {
    return TakeExpired(std::chrono::steady_clock::time_point::max());
  }

  // Waiters, not transactions: the API's bound on waiting calls counts these.
  std::size_t size() const { return size_; }

 private:
  crypto::DigestMap<List> by_id_;
  std::size_t size_ = 0;
};

}  // namespace ertr::node
