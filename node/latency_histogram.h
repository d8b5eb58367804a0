#pragma once

// A latency histogram for /metrics (Prometheus text format): fixed bucket bounds, counts in
// relaxed atomics, so that any thread may record (the disk-sync threads do) while the event loop
// renders. A render may see a record's bucket before its sum; Prometheus tolerates that.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <ostream>
#include <string_view>

namespace ertr::node {

class LatencyHistogram {
 public:
  // Upper bounds in microseconds (+Inf follows): from a fast disk's sync (0.1 ms) to a stuck
  // one, and from one command's commit (about 2 ms) to the API's 60 s wait.
  static constexpr std::array<std::uint64_t, 16> kBoundsUs = {
      100,    250,     500,     1'000,   2'500,     5'000,     10'000,     25'000,
      50'000, 100'000, 250'000, 500'000, 1'000'000, 2'500'000, 10'000'000, 60'000'000};

  void Record(std::chrono::steady_clock::duration d) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
    const std::uint64_t v = us < 0 ? 0 : static_cast<std::uint64_t>(us);
    std::size_t b = 0;
    while (b < kBoundsUs.size() && v > kBoundsUs[b]) ++b;
    buckets_[b].fetch_add(1, std::memory_order_relaxed);
    sum_us_.fetch_add(v, std::memory_order_relaxed);
  }

  std::uint64_t count() const {
    std::uint64_t n = 0;
    for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
    return n;
  }

  // Writes the series `name`_bucket, _sum and _count with the given labels (`key="value"`
  // pairs without braces, or empty). The family's HELP and TYPE lines are the caller's, once.
  void Render(std::ostream& o, std::string_view name, std::string_view labels = {}) const {
    const std::string_view sep = labels.empty() ? "" : ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= kBoundsUs.size(); ++i) {
      cumulative += buckets_[i].load(std::memory_order_relaxed);
      o << name << "_bucket{" << labels << sep << "le=\"";
      if (i < kBoundsUs.size()) {
        o << static_cast<double>(kBoundsUs[i]) / 1e6;
      } else {
        o << "+Inf";
      }
      o << "\"} " << cumulative << "\n";
    }
    const std::string_view open = labels.empty() ? "" : "{";
    const std::string_view close = labels.empty() ? "" : "}";
    // The sum to the microsecond (a double at the stream's default precision would round it).
    const std::uint64_t sum = sum_us_.load(std::memory_order_relaxed);
    std::array<char, 8> fraction{};
    std::snprintf(fraction.data(), fraction.size(), "%06llu",
                  static_cast<unsigned long long>(sum % 1'000'000));
    o << name << "_sum" << open << labels << close << " " << sum / 1'000'000 << "."
      << fraction.data() << "\n"
      << name << "_count" << open << labels << close << " " << cumulative << "\n";
  }

 private:
  std::array<std::atomic<std::uint64_t>, kBoundsUs.size() + 1> buckets_{};
  std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace ertr::node
