#include "storage/state_pages.h"

#include <algorithm>
#include <string>

#include "storage/state_store.h"

namespace ertr::storage {

Result<StatePage> ReadStatePage(const StateReader& state, const std::optional<Bytes>& after,
                                std::size_t max_bytes) {
  // The first key after `after` is the first at or after `after` || 0x00.
  Bytes from;
  if (after) {
    from = *after;
    from.push_back(0);
  }
  StatePage page;
  std::size_t bytes = 0;
  ERTR_RETURN_IF_ERROR(state.ScanPrefixFrom({}, from, [&](ByteSpan key, ByteSpan value) {
    return AddToStatePage(page, bytes, key, value, max_bytes);
  }));
  return page;
}

bool AddToStatePage(StatePage& page, std::size_t& bytes, ByteSpan key, ByteSpan value,
                    std::size_t max_bytes) {
  const std::size_t cost = key.size() + value.size() + kStatePageEntryOverhead;
  if (!page.entries.empty() && bytes + cost > max_bytes) {
    page.more = true;
    return false;
  }
  bytes += cost;
  page.entries.emplace_back(Bytes(key.begin(), key.end()), Bytes(value.begin(), value.end()));
  return true;
}

namespace {

class PageByPage final : public StatePageCursor {
 public:
  explicit PageByPage(const StateReader& state) : state_(state) {}
  Result<StatePage> Next(const std::optional<Bytes>& after, std::size_t max_bytes) override {
    return ReadStatePage(state_, after, max_bytes);
  }

 private:
  const StateReader& state_;
};

}  // namespace

std::unique_ptr<StatePageCursor> PageByPageCursor(const StateReader& state) {
  return std::make_unique<PageByPage>(state);
}

Status StateRootBuilder::Add(ByteSpan key, ByteSpan value) {
  // Keys may hold pseudonyms: the error names the entry's position and sizes, never its bytes.
  // (Made only for a refusal: an install adds millions of entries.)
  auto which = [&] { return "state entry " + std::to_string(entries_ + 1); };
  if (key.empty()) return Status::InvalidArgument(which() + " has an empty key");
  if (key.size() > kMaxStateKeySize) {
    return Status::InvalidArgument(which() + " has a key of " + std::to_string(key.size()) +
                                   " bytes; keys are at most " + std::to_string(kMaxStateKeySize));
  }
  if (value.size() > kMaxStateValueSize) {
    return Status::InvalidArgument(which() + " has a value of " + std::to_string(value.size()) +
                                   " bytes; values are at most " +
                                   std::to_string(kMaxStateValueSize));
  }
  if (last_key_ &&
      !std::lexicographical_compare(last_key_->begin(), last_key_->end(), key.begin(), key.end())) {
    return Status::InvalidArgument(
        which() +
        "'s key is not after the previous entry's: entries must come in strictly "
        "increasing key order, each key once");
  }
  acc_.AddEntry(key, value);
  last_key_ = Bytes(key.begin(), key.end());
  ++entries_;
  return Status::Ok();
}

}  // namespace ertr::storage
