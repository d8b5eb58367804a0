// Volatile implementations of the ledger store interfaces, for simulations and contract tests.
// Same contracts as the RocksDB ones, minus durability.

#include <map>
#include <mutex>

#include "storage/state_accumulator.h"
#include "storage/stores.h"

namespace ertr::storage {

namespace {

class MemoryLedgerStore final : public BlockStore, public StateStore {
 public:
  Height LatestHeight() const override {
    std::lock_guard lock(mu_);
    return Height(blocks_.size());
  }

  Status Append(const StoredBlock& block, const StateDelta& state, Durability) override {
    ERTR_RETURN_IF_ERROR(ValidateDelta(state));
    std::lock_guard lock(mu_);
    Height next(blocks_.size() + 1);
    if (block.height != next) {
      return Status::FailedPrecondition("cannot append block at height " + block.height.ToString() +
                                        ": the next height is " + next.ToString());
    }
    ERTR_ASSIGN_OR_RETURN(crypto::LtHash16 acc, AccumulateDelta(acc_, state, CurrentFn()));
    blocks_.push_back(block);
    by_hash_[block.hash] = block.height;
    Apply(state, acc);
    return Status::Ok();
  }

  Result<StoredBlock> LoadBlock(Height h) const override {
    std::lock_guard lock(mu_);
    ERTR_RETURN_IF_ERROR(CheckHeight(h));
    return blocks_[h.value() - 1];
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
    Bytes p(prefix.begin(), prefix.end());
    for (auto it = state_.lower_bound(p); it != state_.end(); ++it) {
      if (it->first.size() < p.size() || !std::equal(p.begin(), p.end(), it->first.begin())) break;
      if (!fn(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  crypto::Digest StateRoot() const override {
    std::lock_guard lock(mu_);
    return acc_.Root();
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
  std::map<crypto::Digest, Height> by_hash_;
  std::map<Bytes, Bytes> state_;
  crypto::LtHash16 acc_;
};

class MemoryConsensusLogStore final : public ConsensusLogStore {
 public:
  Status Save(const StateDelta& writes) override {
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
  Result<std::vector<std::pair<Bytes, Bytes>>> LoadAll() const override {
    std::lock_guard lock(mu_);
    return std::vector<std::pair<Bytes, Bytes>>(entries_.begin(), entries_.end());
  }

 private:
  mutable std::mutex mu_;
  std::map<Bytes, Bytes> entries_;
};

}  // namespace

LedgerStores MakeMemoryStores() {
  auto ledger = std::make_shared<MemoryLedgerStore>();
  return LedgerStores{ledger, ledger, std::make_shared<MemoryConsensusLogStore>()};
}

}  // namespace ertr::storage
