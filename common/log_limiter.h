#pragma once

// How often a repeated event may be logged. A peer that retries many times a second, a flood of
// bad API calls or a faulty validator must not flood the log (or fill the disk with it), yet the
// operator must see that it happens and how often. A LogLimiter lets the first `per_window`
// occurrences of each window through and counts the rest; the next logged occurrence carries that
// count. So that a burst followed by silence is not reported by its first lines alone, the owner
// also asks TakeUnloggedLine on its periodic tick, and logs the count once the window has ended.
//
// Not thread-safe: the caller serialises (an event loop, or its own mutex). The time is passed in,
// so that the limiter has no clock of its own.

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

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

  // Once the window of the last logged occurrence has passed with occurrences left unlogged, how
  // many, then counted as reported (the next logged occurrence carries 0). nullopt while the
  // window runs, or if none.
  std::optional<std::uint64_t> TakeUnlogged(Clock::time_point now) {
    if (unlogged_ == 0 || !WindowOver(now)) return std::nullopt;
    return std::exchange(unlogged_, 0);
  }

  // TakeUnlogged as one log line (UnloggedLine); empty if nothing is to be said.
  std::string TakeUnloggedLine(std::string_view event, Clock::time_point now,
                               std::string_view about = {}) {
    const auto n = TakeUnlogged(now);
    return n ? UnloggedLine(event, *n, about) : std::string();
  }

  // The line saying that `count` lines about `event` (the event name of the lines this limiter
  // admits) were left out; `about` names which of them, if the owner keeps one limiter per kind,
  // and must be the node's own text (it is logged as it is):
  //   event=log_suppressed of=<event> count=N [about="..."] reason="..."
  std::string UnloggedLine(std::string_view event, std::uint64_t count,
                           std::string_view about = {}) const {
    const auto window_s = std::chrono::duration_cast<std::chrono::seconds>(window_).count();
    std::string line =
        "event=log_suppressed of=" + std::string(event) + " count=" + std::to_string(count);
    if (!about.empty()) line += " about=\"" + std::string(about) + "\"";
    return line + " reason=\"" + std::to_string(count) +
           " more occurred after the last one logged; the log keeps at most " +
           std::to_string(per_window_) + " lines of these per " + std::to_string(window_s) + " s\"";
  }

 private:
  Clock::duration window_;
  std::uint32_t per_window_;
  bool started_ = false;
  Clock::time_point window_start_{};
  std::uint32_t logged_in_window_ = 0;
  std::uint64_t unlogged_ = 0;
};

// Logs (at warning level) the UnloggedLine of each limiter whose window has passed with lines left
// out: an owner's periodic tick, for its limiters and the event names of their lines.
template <typename Logger>
void LogUnlogged(Logger& log,
                 std::initializer_list<std::pair<LogLimiter*, std::string_view>> limiters,
                 LogLimiter::Clock::time_point now) {
  for (const auto& [limiter, event] : limiters) {
    if (const auto line = limiter->TakeUnloggedLine(event, now); !line.empty()) {
      log.warn("{}", line);
    }
  }
}

}  // namespace ertr
