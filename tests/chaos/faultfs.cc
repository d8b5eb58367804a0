// libertr_faultfs.so: storage faults injected into a running ertrd (LD_PRELOAD), for the chaos
// harness's disk-full and failing-fsync faults (docs/reliability.md section 4).
//
// The harness starts every node with LD_PRELOAD set to this library and ERTR_FAULTFS_CONTROL set
// to a control file, and ERTR_FAULTFS_PREFIX to the node's home directory. The control file holds
// the fault in force:
//   (empty or absent)   none: every call goes straight to libc
//   enospc              writes and space reservations of regular files under the prefix fail
//                       with ENOSPC (a full disk)
//   eio-sync            fsync and fdatasync of files and directories under the prefix fail with
//                       EIO (a failing disk; what the data in the page cache became is unknown)
//   low-space [MIB]     statvfs of a path under the prefix says MIB mebibytes (default 512) are
//                       free (a nearly full disk: 512 is under the node's 1 GiB reserve); writes
//                       still succeed
// The file is read again at most every 20 ms. Sockets, pipes, eventfds and the node's log (its
// stdout and stderr, outside the prefix) are never touched, so the node can still say what went
// wrong.
//
// Only what the node and its libraries call through the dynamic linker is intercepted: write,
// pwrite, pwrite64, writev, pwritev, fallocate, posix_fallocate, fsync, fdatasync. That is every
// path to disk of RocksDB's POSIX environment and of the file blob store. And statvfs, statvfs64:
// how the node asks for free space (std::filesystem::space).

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

enum Fault : int { kNone = 0, kNoSpace = 1, kSyncError = 2, kLowSpace = 3 };
std::atomic<unsigned long long> g_low_space_mib{512};

std::atomic<int> g_fault{kNone};
std::atomic<long long> g_checked_ms{-1'000'000};

long long NowMs() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<long long>(ts.tv_sec) * 1000 + ts.tv_nsec / 1'000'000;
}

// The raw read of the control file: open/read/close are not intercepted by this library.
int CurrentFault() {
  const long long now = NowMs();
  if (now - g_checked_ms.load(std::memory_order_relaxed) < 20) {
    return g_fault.load(std::memory_order_relaxed);
  }
  g_checked_ms.store(now, std::memory_order_relaxed);
  const char* control = std::getenv("ERTR_FAULTFS_CONTROL");
  int fault = kNone;
  if (control != nullptr) {
    const int fd = ::open(control, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
      char buf[32] = {};
      const ssize_t n = ::read(fd, buf, sizeof buf - 1);
      ::close(fd);
      if (n > 0) {
        if (std::strncmp(buf, "enospc", 6) == 0) fault = kNoSpace;
        if (std::strncmp(buf, "eio-sync", 8) == 0) fault = kSyncError;
        if (std::strncmp(buf, "low-space", 9) == 0) {
          fault = kLowSpace;
          const unsigned long long mib = std::strtoull(buf + 9, nullptr, 10);
          g_low_space_mib.store(mib != 0 ? mib : 512, std::memory_order_relaxed);
        }
      }
    }
  }
  g_fault.store(fault, std::memory_order_relaxed);
  return fault;
}

// Whether an absolute, resolved path is under ERTR_FAULTFS_PREFIX.
bool UnderPrefix(const char* path) {
  const char* prefix = std::getenv("ERTR_FAULTFS_PREFIX");
  if (prefix == nullptr || *prefix == '\0') return false;
  return std::strncmp(path, prefix, std::strlen(prefix)) == 0;
}

// Whether fd is a regular file (or, for syncs, a directory) under ERTR_FAULTFS_PREFIX.
bool Targeted(int fd, bool directories_too) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) return false;
  if (!S_ISREG(st.st_mode) && !(directories_too && S_ISDIR(st.st_mode))) return false;
  char link[64];
  std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  char path[4096];
  const ssize_t n = ::readlink(link, path, sizeof path - 1);
  if (n <= 0) return false;
  path[n] = '\0';
  return UnderPrefix(path);
}

// Whether statvfs of `path` should report the low-space fault's free bytes.
bool LowSpace(const char* path) {
  if (CurrentFault() != kLowSpace) return false;
  char resolved[PATH_MAX];
  // The prefix ends with '/': the home directory itself is matched with one added.
  if (::realpath(path, resolved) == nullptr) return false;
  std::strncat(resolved, "/", sizeof resolved - std::strlen(resolved) - 1);
  return UnderPrefix(resolved);
}

template <typename Stat>
void ReportLowSpace(Stat* buf) {
  const unsigned long long unit = buf->f_frsize != 0 ? buf->f_frsize : buf->f_bsize;
  if (unit == 0) return;
  buf->f_bavail = (g_low_space_mib.load(std::memory_order_relaxed) << 20) / unit;
  buf->f_bfree = buf->f_bavail;
}

bool FailWrite(int fd) {
  if (CurrentFault() != kNoSpace || !Targeted(fd, false)) return false;
  errno = ENOSPC;
  return true;
}

bool FailSync(int fd) {
  if (CurrentFault() != kSyncError || !Targeted(fd, true)) return false;
  errno = EIO;
  return true;
}

template <typename F>
F Next(const char* name) {
  return reinterpret_cast<F>(::dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

ssize_t write(int fd, const void* buf, size_t count) {
  static auto next = Next<ssize_t (*)(int, const void*, size_t)>("write");
  if (FailWrite(fd)) return -1;
  return next(fd, buf, count);
}

ssize_t pwrite(int fd, const void* buf, size_t count, off_t offset) {
  static auto next = Next<ssize_t (*)(int, const void*, size_t, off_t)>("pwrite");
  if (FailWrite(fd)) return -1;
  return next(fd, buf, count, offset);
}

ssize_t pwrite64(int fd, const void* buf, size_t count, off64_t offset) {
  static auto next = Next<ssize_t (*)(int, const void*, size_t, off64_t)>("pwrite64");
  if (FailWrite(fd)) return -1;
  return next(fd, buf, count, offset);
}

ssize_t writev(int fd, const struct iovec* iov, int iovcnt) {
  static auto next = Next<ssize_t (*)(int, const struct iovec*, int)>("writev");
  if (FailWrite(fd)) return -1;
  return next(fd, iov, iovcnt);
}

ssize_t pwritev(int fd, const struct iovec* iov, int iovcnt, off_t offset) {
  static auto next = Next<ssize_t (*)(int, const struct iovec*, int, off_t)>("pwritev");
  if (FailWrite(fd)) return -1;
  return next(fd, iov, iovcnt, offset);
}

int fallocate(int fd, int mode, off_t offset, off_t len) {
  static auto next = Next<int (*)(int, int, off_t, off_t)>("fallocate");
  if (FailWrite(fd)) return -1;
  return next(fd, mode, offset, len);
}

int posix_fallocate(int fd, off_t offset, off_t len) {
  static auto next = Next<int (*)(int, off_t, off_t)>("posix_fallocate");
  if (FailWrite(fd)) return ENOSPC;  // returns the error instead of setting errno
  return next(fd, offset, len);
}

int fsync(int fd) {
  static auto next = Next<int (*)(int)>("fsync");
  if (FailSync(fd)) return -1;
  return next(fd);
}

int fdatasync(int fd) {
  static auto next = Next<int (*)(int)>("fdatasync");
  if (FailSync(fd)) return -1;
  return next(fd);
}

int statvfs(const char* path, struct statvfs* buf) {
  static auto next = Next<int (*)(const char*, struct statvfs*)>("statvfs");
  const int r = next(path, buf);
  if (r == 0 && LowSpace(path)) ReportLowSpace(buf);
  return r;
}

int statvfs64(const char* path, struct statvfs64* buf) {
  static auto next = Next<int (*)(const char*, struct statvfs64*)>("statvfs64");
  const int r = next(path, buf);
  if (r == 0 && LowSpace(path)) ReportLowSpace(buf);
  return r;
}

}  // extern "C"
