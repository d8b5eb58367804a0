#pragma once

// How often a repeated event may be logged. A peer that retries many times a second, a flood of
// bad API calls or a faulty validator must not flood the log (or fill the disk with it), yet the
// operator must see that it happens and how often. A LogLimiter lets the first `per_window`
// occurrences of each window through and counts the rest; the next logged occurrence carries that
// count (a burst followed by silence is reported only by its first lines).
//
// Not thread-safe: the caller serialises (an event loop, or its own mutex). The time is passed in,
// so that the limiter has no clock of its own.

#include <chrono>
#include <cstdint>
#include <optional>

namespace ertr {

class LogLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LogLimiter(Clock::duration window, std::uint32_t per_window = 1)
      : window_(window), per_window_(per_window) {}

  // Counts one occurrence at `now`. nullopt: do not log it. Otherwise log it; the value is the
  // number of occurrences not logged before it (since the previous logged one).
  std::optional<std::uint64_t> Admit(Clock::time_point now) {
    if (WindowOver(now)) {
      started_ = true;
      window_start_ = now;
      logged_in_window_ = 0;
    }
    if (logged_in_window_ >= per_window_) {
      ++unlogged_;
      return std::nullopt;
    }
    ++logged_in_window_;
    const std::uint64_t unlogged = unlogged_;
    unlogged_ = 0;
    return unlogged;
  }

  // Whether the window of the last logged occurrence has passed (or none was): a limiter kept
  // for each of many keys may then be dropped, losing at most its count of unlogged occurrences.
  bool WindowOver(Clock::time_point now) const {
    return !started_ || now - window_start_ >= window_;
  }

 private:
  Clock::duration window_;
  std::uint32_t per_window_;
  bool started_ = false;
  Clock::time_point window_start_{};
  std::uint32_t logged_in_window_ = 0;
  std::uint64_t unlogged_ = 0;
};

}  // namespace ertr
