#pragma once

// FaultProxy: a TCP proxy between validators for the chaos harness (issue 9). Every directed link
// i -> j (node i dialling node j) goes through its own listening port, so a link can be cut (its
// connections closed and new ones refused), slowed (every chunk held back by a delay), or made
// lossy (each chunk has a probability of resetting the connection: TCP itself never loses bytes,
// so loss shows up to the node as a dropped connection and a redial). Runs its own thread.

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "net/asio.h"

namespace ertr::chaos {

struct LinkState {
  bool up = true;
  std::uint32_t delay_ms = 0;
  double reset_probability = 0;  // per chunk forwarded
};

class FaultProxy {
 public:
  // Link (i, j) listens on listen_port(i, j) and forwards to 127.0.0.1:target_port(j).
  FaultProxy(int validators, int base_listen_port, std::vector<int> target_ports,
             std::uint64_t seed);
  ~FaultProxy();
  bool Start();  // false if a port cannot be bound
  void Stop();

  int listen_port(int i, int j) const { return base_ + i * n_ + j; }
  void Set(int i, int j, LinkState s);
  // Both directions between i and every node of `others`.
  void SetBetween(int i, const std::vector<int>& others, LinkState s);
  void HealAll();
  std::uint64_t resets() const { return resets_; }

  class Link;  // internal

 private:
  int n_;
  int base_;
  std::vector<int> targets_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;
  std::map<std::pair<int, int>, std::shared_ptr<Link>> links_;
  std::mt19937_64 rng_;
  std::atomic<std::uint64_t> resets_{0};
};

}  // namespace ertr::chaos
