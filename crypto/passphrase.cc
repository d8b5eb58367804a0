#include "crypto/passphrase.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace ertr::crypto {

namespace {
// Longest first line taken from a passphrase file.
constexpr std::size_t kMaxPassphraseBytes = 4096;

// An open file descriptor, closed when it goes.
class Fd {
 public:
  explicit Fd(const std::string& file)
      : fd_(::open(file.c_str(), O_RDONLY | O_CLOEXEC)), open_errno_(fd_ < 0 ? errno : 0) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  // Why open failed (saved at once: building the error message may change errno).
  int open_errno() const { return open_errno_; }

 private:
  int fd_;
  int open_errno_;
};

// Reads from `fd` into `buf` (straight into guarded memory: no std::string or stream buffer ever
// holds the secret) until it is full, the file ends, or, with `stop_at_newline`, a newline has
// been read. Returns the bytes read; `err` is 0, or the errno of a failed read.
std::size_t ReadInto(int fd, SecureBuffer& buf, bool stop_at_newline, int& err) {
  err = 0;
  std::size_t size = 0;
  while (size < buf.size()) {
    const ssize_t n = ::read(fd, buf.data() + size, buf.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      break;
    }
    if (n == 0) break;
    size += static_cast<std::size_t>(n);
    if (stop_at_newline && std::memchr(buf.data(), '\n', size) != nullptr) break;
  }
  return size;
}
}  // namespace

Result<SecureBuffer> ReadPassphrase(const std::string& file, const std::string& env_var,
                                    std::string_view file_setting) {
  SecureBuffer raw(kMaxPassphraseBytes + 1);
  std::size_t size = 0;
  if (!file.empty()) {
    const Fd fd(file);
    if (fd.get() < 0) {
      return Status::NotFound("cannot read passphrase file " + file + ": " +
                              std::strerror(fd.open_errno()));
    }
    int err = 0;
    size = ReadInto(fd.get(), raw, /*stop_at_newline=*/true, err);
    if (err != 0) {
      return Status::IoError("cannot read passphrase file " + file + ": " + std::strerror(err));
    }
    if (const void* nl = std::memchr(raw.data(), '\n', size)) {
      size = static_cast<std::size_t>(static_cast<const std::uint8_t*>(nl) - raw.data());
    } else if (size > kMaxPassphraseBytes) {
      return Status::InvalidArgument("the first line of passphrase file " + file +
                                     " is longer than " + std::to_string(kMaxPassphraseBytes) +
                                     " bytes; put the passphrase alone on it");
    }
  } else {
    const char* env = std::getenv(env_var.c_str());
    if (env == nullptr || *env == '\0') {
      return Status::InvalidArgument("no passphrase: set the environment variable " + env_var +
                                     " or " + std::string(file_setting));
    }
    size = std::strlen(env);
    if (size > kMaxPassphraseBytes) {
      return Status::InvalidArgument("the passphrase in " + env_var + " is longer than " +
                                     std::to_string(kMaxPassphraseBytes) + " bytes");
    }
    std::memcpy(raw.data(), env, size);
  }
  if (size > 0 && raw.data()[size - 1] == '\r') --size;
  if (size == 0) return Status::InvalidArgument("the passphrase is empty");
  SecureBuffer out(size);
  std::memcpy(out.data(), raw.data(), size);
  return out;  // `raw` is wiped as it goes
}

Result<SecureBuffer> ReadSecretFile(const std::string& file, std::size_t max_bytes,
                                    const std::string& what) {
  const Fd fd(file);
  if (fd.get() < 0)
    return Status::NotFound("cannot read " + what + ": " + std::strerror(fd.open_errno()));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    return Status::InvalidArgument(what + " is not a regular file of at most " +
                                   std::to_string(max_bytes) + " bytes");
  }
  SecureBuffer out(static_cast<std::size_t>(st.st_size));
  int err = 0;
  if (ReadInto(fd.get(), out, /*stop_at_newline=*/false, err) < out.size()) {
    // A failed read, or a file cut short while it was read.
    return Status::IoError("cannot read " + what + ": " + std::strerror(err != 0 ? err : EIO));
  }
  return out;
}

}  // namespace ertr::crypto
