#pragma once

// Strong id types: a ReplicaId is not a View is not a Height, and the compiler says so.

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace ertr {

template <typename Tag, typename Rep = std::uint64_t>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : value_(v) {}
  constexpr Rep value() const { return value_; }
  constexpr auto operator<=>(const StrongId&) const = default;
  // Next id in sequence (heights, views, sequence numbers).
  constexpr StrongId Next() const { return StrongId(value_ + 1); }
  std::string ToString() const { return std::to_string(value_); }

 private:
  Rep value_{};
};

// Index of a validator in the validator set (0 .. n-1).
using ReplicaId = StrongId<struct ReplicaIdTag, std::uint32_t>;
// PBFT view number; the primary of view v is replica v mod n.
using View = StrongId<struct ViewTag>;
// PBFT sequence number of a proposal.
using SeqNum = StrongId<struct SeqNumTag>;
// Height of a block in the chain; genesis state is height 0, the first block is height 1.
using Height = StrongId<struct HeightTag>;

}  // namespace ertr

template <typename Tag, typename Rep>
struct std::hash<ertr::StrongId<Tag, Rep>> {
  std::size_t operator()(const ertr::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>{}(id.value());
  }
};
