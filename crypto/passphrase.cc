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
}  // namespace

Result<SecureBuffer> ReadPassphrase(const std::string& file, const std::string& env_var,
                                    std::string_view file_setting) {
  // Read straight into guarded memory: no std::string or stream buffer ever holds the passphrase.
  SecureBuffer raw(kMaxPassphraseBytes + 1);
  std::size_t size = 0;
  if (!file.empty()) {
    const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      return Status::NotFound("cannot read passphrase file " + file + ": " + std::strerror(errno));
    }
    while (size < raw.size()) {
      const ssize_t n = ::read(fd, raw.data() + size, raw.size() - size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        return Status::IoError("cannot read passphrase file " + file + ": " + std::strerror(err));
      }
      if (n == 0) break;
      size += static_cast<std::size_t>(n);
      if (std::memchr(raw.data(), '\n', size) != nullptr) break;
    }
    ::close(fd);
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
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::NotFound("cannot read " + what + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::uint64_t>(st.st_size) > max_bytes) {
    ::close(fd);
    return Status::InvalidArgument(what + " is not a regular file of at most " +
                                   std::to_string(max_bytes) + " bytes");
  }
  SecureBuffer out(static_cast<std::size_t>(st.st_size));
  std::size_t size = 0;
  while (size < out.size()) {
    const ssize_t n = ::read(fd, out.data() + size, out.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;
      ::close(fd);
      return Status::IoError("cannot read " + what + ": " + std::strerror(err));
    }
    size += static_cast<std::size_t>(n);
  }
  ::close(fd);
  return out;
}

}  // namespace ertr::crypto
