// Volatile implementations of the ledger store interfaces, for simulations and contract tests.
// Same contracts as the RocksDB ones, minus durability.

#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>

#include "storage/state_accumulator.h"
#include "storage/stores.h"

namespace ertr::storage {

namespace {

Status ScanMap(const std::map<Bytes, Bytes>& state, ByteSpan prefix,
               const std::function<bool(ByteSpan, ByteSpan)>& fn) {
  Bytes p(prefix.begin(), prefix.end());
  for (auto it = state.lower_bound(p); it != state.end(); ++it) {
    if (it->first.size() < p.size() || !std::equal(p.begin(), p.end(), it->first.begin())) break;
    if (!fn(it->first, it->second)) break;
  }
  return Status::Ok();
}

// StateStore::Snapshot: a copy of the entries (these stores hold small states).
class MemoryStateSnapshot final : public StateSnapshot {
 public:
  MemoryStateSnapshot(std::map<Bytes, Bytes> state, Height height, const crypto::Digest& root)
      : state_(std::move(state)), height_(height), root_(root) {}
  Height height() const override { return height_; }
  crypto::Digest root() const override { return root_; }
  Result<std::optional<Bytes>> Get(ByteSpan key) const override {
    auto it = state_.find(Bytes(key.begin(), key.end()));
    if (it == state_.end()) return std::optional<Bytes>();
    return std::optional<Bytes>(it->second);
  }
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan, ByteSpan)>& fn) const override {
    return ScanMap(state_, prefix, fn);
  }

 private:
  std::map<Bytes, Bytes> state_;
  Height height_;
  crypto::Digest root_;
};

class MemoryLedgerStore final : public BlockStore, public StateStore {
 public:
  Height LatestHeight() const override {
    std::lock_guard lock(mu_);
    return Height(blocks_.size());
  }
  std::optional<std::uint64_t> LatestBlockTime() const override {
    std::lock_guard lock(mu_);
    if (blocks_.empty()) return std::nullopt;
    return blocks_.back().time_ms;
  }

  Status Append(const StoredBlock& block, const StateDelta& state, Durability) override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(state));
    std::lock_guard lock(mu_);
    Height next(blocks_.size() + 1);
    if (block.height != next) {
      return Status::FailedPrecondition("cannot append block at height " + block.height.ToString() +
                                        ": the next height is " + next.ToString());
    }
    auto staged = staged_.find(block.height);
    if (block.body_stored && staged == staged_.end()) {
      return Status::FailedPrecondition("block at height " + block.height.ToString() +
                                        " says its body is stored, but none was staged there");
    }
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, state, CurrentFn()));
    blocks_.push_back(block);
    if (block.body_stored) blocks_.back().body = staged->second;
    blocks_.back().body_stored = false;
    staged_.erase(staged_.begin(), staged_.upper_bound(block.height));
    by_hash_[block.hash] = block.height;
    Apply(state, acc);
    return Status::Ok();
  }

  Result<StoredBlock> LoadBlock(Height h) const override {
    std::lock_guard lock(mu_);
    ERTR_RETURN_IF_ERROR(CheckHeight(h));
    StoredBlock b = blocks_[h.value() - 1];
    b.time_ms = 0;  // as from RocksDB: only the newest block's time is kept (LatestBlockTime)
    return b;
  }
  Result<Bytes> LoadHeader(Height h) const override {
    std::lock_guard lock(mu_);
    ERTR_RETURN_IF_ERROR(CheckHeight(h));
    return blocks_[h.value() - 1].header;
  }
  Result<crypto::Digest> LoadHash(Height h) const override {
    std::lock_guard lock(mu_);
    ERTR_RETURN_IF_ERROR(CheckHeight(h));
    return blocks_[h.value() - 1].hash;
  }
  Result<Height> FindBlock(const crypto::Digest& hash) const override {
    std::lock_guard lock(mu_);
    auto it = by_hash_.find(hash);
    if (it == by_hash_.end()) return Status::NotFound("block " + hash.ToHex() + " is not stored");
    return it->second;
  }

  Result<std::optional<Bytes>> Get(ByteSpan key) const override {
    std::lock_guard lock(mu_);
    return Lookup(key);
  }
  Status ScanPrefix(ByteSpan prefix,
                    const std::function<bool(ByteSpan, ByteSpan)>& fn) const override {
    std::lock_guard lock(mu_);
    return ScanMap(state_, prefix, fn);
  }
  crypto::Digest StateRoot() const override {
    std::lock_guard lock(mu_);
    return acc_.Root();
  }
  Result<std::shared_ptr<const StateSnapshot>> Snapshot() const override {
    std::lock_guard lock(mu_);
    return std::shared_ptr<const StateSnapshot>(
        std::make_shared<MemoryStateSnapshot>(state_, Height(blocks_.size()), acc_.Root()));
  }
  Result<crypto::Digest> RootAfter(const StateDelta& delta) const override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(delta));
    std::lock_guard lock(mu_);
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, delta, CurrentFn()));
    return acc.Root();
  }
  Status Commit(const StateDelta& delta) override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(delta));
    std::lock_guard lock(mu_);
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, delta, CurrentFn()));
    Apply(delta, acc);
    return Status::Ok();
  }

  // For the memory consensus log (ConsensusLogStore::StagedBody).
  Status Stage(const std::vector<StagedBody>& bodies) {
    std::lock_guard lock(mu_);
    for (const auto& b : bodies) {
      if (b.height.value() <= blocks_.size()) {
        return Status::FailedPrecondition("cannot stage a body at height " + b.height.ToString() +
                                          ": the block there is stored already");
      }
    }
    for (const auto& b : bodies) staged_[b.height] = b.body;
    return Status::Ok();
  }
  std::optional<Bytes> StagedBodyAt(Height h) const {
    std::lock_guard lock(mu_);
    if (h.value() >= 1 && h.value() <= blocks_.size()) return blocks_[h.value() - 1].body;
    auto it = staged_.find(h);
    if (it == staged_.end()) return std::nullopt;
    return it->second;
  }

 private:
  Status CheckHeight(Height h) const {
    if (h.value() == 0 || h.value() > blocks_.size()) {
      return Status::NotFound("no block at height " + h.ToString() + " (latest is " +
                              std::to_string(blocks_.size()) + ")");
    }
    return Status::Ok();
  }
  std::optional<Bytes> Lookup(ByteSpan key) const {
    auto it = state_.find(Bytes(key.begin(), key.end()));
    if (it == state_.end()) return std::nullopt;
    return it->second;
  }
  CurrentValueFn CurrentFn() const {
    return [this](ByteSpan key) -> Result<std::optional<Bytes>> { return Lookup(key); };
  }
  void Apply(const StateDelta& delta, const crypto::LtHash16& acc) {
    for (const auto& [key, value] : delta.writes) {
      if (value) {
        state_[key] = *value;
      } else {
        state_.erase(key);
      }
    }
    acc_ = acc;
  }

  mutable std::mutex mu_;
  std::vector<StoredBlock> blocks_;
  std::map<Height, Bytes> staged_;  // bodies above the latest block
  std::map<crypto::Digest, Height> by_hash_;
  std::map<Bytes, Bytes> state_;
  crypto::LtHash16 acc_;
};

class MemoryConsensusLogStore final : public ConsensusLogStore {
 public:
  // Staged bodies go to `ledger`, as the RocksDB log writes them to the blocks column family.
  explicit MemoryConsensusLogStore(std::shared_ptr<MemoryLedgerStore> ledger)
      : ledger_(std::move(ledger)) {}

  Status Save(const StateDelta& writes, const std::vector<StagedBody>& bodies,
              bool /*sync*/) override {
    ERTR_RETURN_IF_ERROR(ledger_->Stage(bodies));
    std::lock_guard lock(mu_);
    for (const auto& [key, value] : writes.writes) {
      if (value) {
        entries_[key] = *value;
      } else {
        entries_.erase(key);
      }
    }
    return Status::Ok();
  }
  Status Sync() override { return Status::Ok(); }  // nothing to make durable
  Result<std::vector<std::pair<Bytes, Bytes>>> LoadAll() const override {
    std::lock_guard lock(mu_);
    return std::vector<std::pair<Bytes, Bytes>>(entries_.begin(), entries_.end());
  }
  Result<std::optional<Bytes>> LoadStagedBody(Height height) const override {
    return ledger_->StagedBodyAt(height);
  }

 private:
  std::shared_ptr<MemoryLedgerStore> ledger_;
  mutable std::mutex mu_;
  std::map<Bytes, Bytes> entries_;
};

}  // namespace

LedgerStores MakeMemoryStores() {
  auto ledger = std::make_shared<MemoryLedgerStore>();
  return LedgerStores{ledger, ledger, std::make_shared<MemoryConsensusLogStore>(ledger)};
}

}  // namespace ertr::storage
