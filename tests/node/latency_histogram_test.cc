#include <catch2/catch.hpp>

#include <algorithm>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "node/latency_histogram.h"

namespace ertr::node {
namespace {

using std::chrono::microseconds;

std::string Rendered(const LatencyHistogram& h, std::string_view labels = {}) {
  std::ostringstream o;
  h.Render(o, "m", labels);
  return o.str();
}

TEST_CASE("latency histogram: a value on a bound counts in that bound's bucket", "[unit][node]") {
  LatencyHistogram h;
  h.Record(microseconds(40));
  h.Record(microseconds(100));  // on the first bound: still in it
  h.Record(microseconds(101));  // just over: the next
  h.Record(std::chrono::seconds(2));
  h.Record(std::chrono::seconds(100));  // past the last bound: only +Inf
  h.Record(microseconds(-5));           // a clock that went backwards counts as zero
  CHECK(h.count() == 6);
  const std::string text = Rendered(h);
  CHECK(text.find("m_bucket{le=\"0.0001\"} 3\n") != std::string::npos);
  CHECK(text.find("m_bucket{le=\"0.00025\"} 4\n") != std::string::npos);
  CHECK(text.find("m_bucket{le=\"1\"} 4\n") != std::string::npos);
  CHECK(text.find("m_bucket{le=\"2.5\"} 5\n") != std::string::npos);
  CHECK(text.find("m_bucket{le=\"60\"} 5\n") != std::string::npos);
  CHECK(text.find("m_bucket{le=\"+Inf\"} 6\n") != std::string::npos);
  CHECK(text.find("m_sum 102.000241\n") != std::string::npos);
  CHECK(text.find("m_count 6\n") != std::string::npos);
  // Cumulative: one line per bound and +Inf, then the sum and the count.
  CHECK(std::count(text.begin(), text.end(), '\n') == LatencyHistogram::kBoundsUs.size() + 3);
}

TEST_CASE("latency histogram: labels go before le and on the sum and count", "[unit][node]") {
  LatencyHistogram h;
  h.Record(std::chrono::milliseconds(3));
  const std::string text = Rendered(h, "log=\"consensus\"");
  CHECK(text.find("m_bucket{log=\"consensus\",le=\"0.0025\"} 0\n") != std::string::npos);
  CHECK(text.find("m_bucket{log=\"consensus\",le=\"0.005\"} 1\n") != std::string::npos);
  CHECK(text.find("m_sum{log=\"consensus\"} 0.003000\n") != std::string::npos);
  CHECK(text.find("m_count{log=\"consensus\"} 1\n") != std::string::npos);
  const std::string empty = Rendered(LatencyHistogram());
  CHECK(empty.find("m_bucket{le=\"+Inf\"} 0\n") != std::string::npos);
  CHECK(empty.find("m_count 0\n") != std::string::npos);
}

TEST_CASE("latency histogram: threads record at once without losing counts", "[unit][node]") {
  LatencyHistogram h;
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&h, t] {
      for (int i = 0; i < 10'000; ++i) h.Record(microseconds(t * 1000 + i % 7));
    });
  }
  for (auto& th : threads) th.join();
  CHECK(h.count() == 40'000);
  CHECK(Rendered(h).find("m_bucket{le=\"0.0001\"} 10000\n") != std::string::npos);
}

}  // namespace
}  // namespace ertr::node
