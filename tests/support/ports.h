#pragma once

// A block of local TCP ports for one test network, reserved across processes: parallel tests
// (ctest -j) and tools each hold an flock on /tmp/ertr-ports/<base>.lock for the block they use,
// and every port of a block is checked to be free before it is taken. Everything uses blocks of
// the same span (100) so that the locks line up. The lock goes with the
// process, so a crashed test never leaves a block reserved.

#include <cstdint>

namespace ertr::testing {

class PortBlock {
 public:
  // `span` consecutive ports starting at a multiple of `span` in [20000, 32000), below Linux's
  // ephemeral range (where outgoing connections could hold them).
  explicit PortBlock(int span);
  ~PortBlock();
  PortBlock(const PortBlock&) = delete;
  PortBlock& operator=(const PortBlock&) = delete;

  int base() const { return base_; }  // 0 if no free block was found

 private:
  int base_ = 0;
  int lock_fd_ = -1;
};

}  // namespace ertr::testing
