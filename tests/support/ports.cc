#include "tests/support/ports.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <random>
#include <string>

namespace ertr::testing {

namespace {

bool Free(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<std::uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

PortBlock::PortBlock(int span) {
  std::error_code ec;
  std::filesystem::create_directories("/tmp/ertr-ports", ec);
  const int blocks = (32000 - 20000) / span;
  std::random_device rd;
  const int first = static_cast<int>(rd() % static_cast<unsigned>(blocks));
  for (int k = 0; k < blocks; ++k) {
    const int base = 20000 + ((first + k) % blocks) * span;
    const std::string lock = "/tmp/ertr-ports/" + std::to_string(base) + ".lock";
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) continue;
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);
      continue;
    }
    bool all_free = true;
    for (int p = base; p < base + span && all_free; ++p) all_free = Free(p);
    if (!all_free) {
      ::close(fd);
      continue;
    }
    base_ = base;
    lock_fd_ = fd;
    return;
  }
}

PortBlock::~PortBlock() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

}  // namespace ertr::testing
