#pragma once

// Polling for the process-level tests: a liveness bound that fails a test, never a performance
// assertion.

#include <chrono>
#include <functional>
#include <thread>

namespace ertr::testing {

// Polls `pred` every 100 ms for at most `seconds`, and once more at the end (a slow `pred`, such as
// an HTTP status call, may take most of the time); whether it held.
inline bool WaitUntil(const std::function<bool()>& pred, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return pred();
}

}  // namespace ertr::testing
