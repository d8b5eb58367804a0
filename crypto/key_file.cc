#include "crypto/key_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace ertr::crypto {

namespace {

constexpr char kMagic[8] = {'E', 'R', 'T', 'R', 'K', 'E', 'Y', '1'};
constexpr std::size_t kHeaderSize = 98;
constexpr std::uint8_t kKdfArgon2id13 = crypto_pwhash_ALG_ARGON2ID13;
constexpr std::uint64_t kMaxOps = 20;
constexpr std::uint64_t kMinMem = 8 * 1024;
constexpr std::uint64_t kMaxMem = 1024ull * 1024 * 1024;
constexpr std::size_t kMaxFileSize = 4096;

static_assert(crypto_pwhash_argon2id_SALTBYTES == 16);
static_assert(crypto_secretbox_NONCEBYTES == 24 && crypto_secretbox_KEYBYTES == 32);
static_assert(kKdfArgon2id13 == 2);

std::size_t SecretSize(KeyType t) { return t == KeyType::kEd25519 ? 64 : 32; }

Status CheckCost(const KdfCost& c) {
  if (c.opslimit < 1 || c.opslimit > kMaxOps) {
    return Status::InvalidArgument("key file field 'opslimit' is " + std::to_string(c.opslimit) +
                                   "; it must be 1.." + std::to_string(kMaxOps));
  }
  if (c.memlimit < kMinMem || c.memlimit > kMaxMem) {
    return Status::InvalidArgument("key file field 'memlimit' is " + std::to_string(c.memlimit) +
                                   " bytes; it must be 8 KiB .. 1 GiB");
  }
  return Status::Ok();
}

Result<SecretKey<32>> DeriveKey(std::string_view passphrase, ByteSpan salt, const KdfCost& c) {
  SecretKey<32> k;
  if (crypto_pwhash(k.MutableBytes().data(), 32, passphrase.data(), passphrase.size(), salt.data(),
                    c.opslimit, static_cast<std::size_t>(c.memlimit),
                    crypto_pwhash_ALG_ARGON2ID13) != 0) {
    return Status::ResourceExhausted("Argon2id key derivation failed: not enough memory for " +
                                     std::to_string(c.memlimit / 1024) + " KiB");
  }
  return k;
}

}  // namespace

KdfCost KdfCost::Moderate() {
  return {crypto_pwhash_argon2id_OPSLIMIT_MODERATE, crypto_pwhash_argon2id_MEMLIMIT_MODERATE};
}
KdfCost KdfCost::Interactive() {
  return {crypto_pwhash_argon2id_OPSLIMIT_INTERACTIVE, crypto_pwhash_argon2id_MEMLIMIT_INTERACTIVE};
}
KdfCost KdfCost::Minimum() { return {1, kMinMem}; }

namespace {

Result<Bytes> Encode(KeyType type, ByteSpan secret, ByteSpan pub, std::string_view passphrase,
                     KdfCost cost) {
  if (passphrase.empty()) {
    return Status::InvalidArgument("key file passphrase is empty; choose a passphrase");
  }
  ERTR_RETURN_IF_ERROR(CheckCost(cost));

  Bytes header;
  Append(header, AsBytes(std::string_view(kMagic, 8)));
  PutU8(header, static_cast<std::uint8_t>(type));
  PutU8(header, kKdfArgon2id13);
  PutU64Le(header, cost.opslimit);
  PutU64Le(header, cost.memlimit);
  std::array<std::uint8_t, 16> salt{};
  std::array<std::uint8_t, 24> nonce{};
  RandomBytes(salt);
  RandomBytes(nonce);
  Append(header, salt);
  Append(header, nonce);
  Append(header, pub);

  ERTR_ASSIGN_OR_RETURN(SecretKey<32> box_key, DeriveKey(passphrase, salt, cost));
  SecureBuffer plain(kHeaderSize + secret.size());
  std::memcpy(plain.data(), header.data(), kHeaderSize);
  std::memcpy(plain.data() + kHeaderSize, secret.data(), secret.size());
  Bytes out = header;
  out.resize(kHeaderSize + crypto_secretbox_MACBYTES + plain.size());
  crypto_secretbox_easy(out.data() + kHeaderSize, plain.data(), plain.size(), nonce.data(),
                        box_key.UnsafeBytes().data());
  return out;
}

}  // namespace

Result<Bytes> EncodeKeyFile(const SigningKey& key, std::string_view passphrase, KdfCost cost) {
  return Encode(KeyType::kEd25519, key.secret().UnsafeBytes(), key.public_key().span(), passphrase,
                cost);
}

Result<Bytes> EncodeKeyFile(const BoxKeyPair& key, std::string_view passphrase, KdfCost cost) {
  return Encode(KeyType::kX25519, key.secret().UnsafeBytes(), key.public_key().span(), passphrase,
                cost);
}

Result<Bytes> EncodeKeyFile(const AnyKey& key, std::string_view passphrase, KdfCost cost) {
  return std::visit([&](const auto& k) { return EncodeKeyFile(k, passphrase, cost); }, key);
}

Result<KeyFileInfo> InspectKeyFile(ByteSpan file) {
  ByteReader r(file);
  ERTR_ASSIGN_OR_RETURN(ByteSpan magic, r.Take(8, "magic"));
  if (std::memcmp(magic.data(), kMagic, 8) != 0) {
    return Status::InvalidArgument(
        "not an ertrchain key file: it does not start with 'ERTRKEY1' (wrong file, or a key "
        "file from a newer version)");
  }
  KeyFileInfo info;
  ERTR_ASSIGN_OR_RETURN(std::uint8_t type, r.U8("key_type"));
  if (type != 1 && type != 2) {
    return Status::InvalidArgument("key file field 'key_type' is " + std::to_string(type) +
                                   "; expected 1 (Ed25519) or 2 (X25519)");
  }
  info.type = static_cast<KeyType>(type);
  ERTR_ASSIGN_OR_RETURN(std::uint8_t kdf, r.U8("kdf"));
  if (kdf != kKdfArgon2id13) {
    return Status::InvalidArgument("key file field 'kdf' is " + std::to_string(kdf) +
                                   "; only 2 (Argon2id v1.3) is supported");
  }
  ERTR_ASSIGN_OR_RETURN(info.cost.opslimit, r.U64Le("opslimit"));
  ERTR_ASSIGN_OR_RETURN(info.cost.memlimit, r.U64Le("memlimit"));
  ERTR_RETURN_IF_ERROR(CheckCost(info.cost));
  ERTR_RETURN_IF_ERROR(r.Take(16 + 24, "salt and nonce").status());
  ERTR_ASSIGN_OR_RETURN(ByteSpan pub, r.Take(32, "public_key"));
  info.public_key.assign(pub.begin(), pub.end());
  std::size_t want = crypto_secretbox_MACBYTES + kHeaderSize + SecretSize(info.type);
  if (r.remaining() != want) {
    return Status::InvalidArgument("key file field 'ciphertext' is " +
                                   std::to_string(r.remaining()) + " bytes; expected " +
                                   std::to_string(want) + " (file truncated or extended)");
  }
  return info;
}

Result<AnyKey> DecodeKeyFile(ByteSpan file, std::string_view passphrase) {
  ERTR_ASSIGN_OR_RETURN(KeyFileInfo info, InspectKeyFile(file));
  ByteSpan salt = file.subspan(26, 16);
  ByteSpan nonce = file.subspan(42, 24);
  ByteSpan box = file.subspan(kHeaderSize);
  ERTR_ASSIGN_OR_RETURN(SecretKey<32> box_key, DeriveKey(passphrase, salt, info.cost));
  SecureBuffer plain(box.size() - crypto_secretbox_MACBYTES);
  if (crypto_secretbox_open_easy(plain.data(), box.data(), box.size(), nonce.data(),
                                 box_key.UnsafeBytes().data()) != 0) {
    return Status::Unauthenticated(
        "key file does not decrypt: wrong passphrase, or the file was modified");
  }
  if (!ConstantTimeEqual(plain.span().first(kHeaderSize), file.first(kHeaderSize))) {
    return Status::Unauthenticated("key file header was modified after encryption; refuse it");
  }
  ByteSpan secret = plain.span().subspan(kHeaderSize);
  auto check_pub = [&](ByteSpan derived) -> Status {
    if (!ConstantTimeEqual(derived, info.public_key)) {
      return Status::DataLoss("key file public key does not match its secret key; refuse it");
    }
    return Status::Ok();
  };
  if (info.type == KeyType::kEd25519) {
    ERTR_ASSIGN_OR_RETURN(SigningKey k, SigningKey::FromSecretBytes(secret));
    ERTR_RETURN_IF_ERROR(check_pub(k.public_key().span()));
    return AnyKey(std::move(k));
  }
  ERTR_ASSIGN_OR_RETURN(BoxKeyPair k, BoxKeyPair::FromSecretBytes(secret));
  ERTR_RETURN_IF_ERROR(check_pub(k.public_key().span()));
  return AnyKey(std::move(k));
}

Result<SigningKey> DecodeSigningKeyFile(ByteSpan file, std::string_view passphrase) {
  ERTR_ASSIGN_OR_RETURN(AnyKey key, DecodeKeyFile(file, passphrase));
  if (!std::holds_alternative<SigningKey>(key)) {
    return Status::InvalidArgument(
        "key file holds an X25519 encryption key, not an Ed25519 "
        "signing key; check which file you passed");
  }
  return std::move(std::get<SigningKey>(key));
}

Result<BoxKeyPair> DecodeBoxKeyFile(ByteSpan file, std::string_view passphrase) {
  ERTR_ASSIGN_OR_RETURN(AnyKey key, DecodeKeyFile(file, passphrase));
  if (!std::holds_alternative<BoxKeyPair>(key)) {
    return Status::InvalidArgument(
        "key file holds an Ed25519 signing key, not an X25519 "
        "encryption key; check which file you passed");
  }
  return std::move(std::get<BoxKeyPair>(key));
}

Status WriteKeyFileBytes(const std::filesystem::path& path, ByteSpan data, bool overwrite) {
  std::error_code ec;
  if (!overwrite && std::filesystem::exists(path, ec)) {
    return Status::AlreadyExists("key file " + path.string() +
                                 " exists already; move it away or choose another path");
  }
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  // A new file of our own, mode 0600 from the start: a .tmp left by an interrupted write is
  // removed first, and neither an existing file (whose mode would stay) nor a symbolic link
  // (which would be followed) is ever written through.
  if (::unlink(tmp.c_str()) != 0 && errno != ENOENT) {
    return Status::IoError("cannot remove the stale " + tmp.string() + ": " + std::strerror(errno));
  }
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::IoError("cannot create key file " + tmp.string() + ": " + std::strerror(errno));
  }
  // `fd` is closed once (a failed close(2) has closed it too), and the .tmp removed.
  const auto fail = [&](const char* what) {
    const int err = errno;
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    return Status::IoError(std::string("cannot ") + what + " key file " + tmp.string() + ": " +
                           std::strerror(err));
  };
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail("write");
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return fail("sync");
  const int closed = ::close(fd);
  fd = -1;
  if (closed != 0) return fail("close");
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    ::unlink(tmp.c_str());
    return Status::IoError("cannot move key file into place at " + path.string() + ": " +
                           ec.message());
  }
  // The rename is durable only once the directory is synced: a power cut could otherwise lose a
  // key file that was just reported written.
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  // A file system that cannot sync a directory (EINVAL) keeps its own promises; any other
  // failure is reported, naming the file that is in place all the same.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  const int synced = dfd < 0 ? -1 : ::fsync(dfd);
  const int err = errno;
  if (dfd >= 0) ::close(dfd);
  if (synced != 0 && err != EINVAL) {
    return Status::IoError("key file " + path.string() + " is in place, but its directory " +
                           dir.string() + " could not be synced (" + std::strerror(err) +
                           "): a power cut could still lose it. Check the disk; the file is kept, "
                           "so run `sync` rather than writing it again");
  }
  return Status::Ok();
}

Result<Bytes> ReadKeyFileBytes(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec) return Status::NotFound("cannot read key file " + path.string() + ": " + ec.message());
  if (size > kMaxFileSize) {
    return Status::InvalidArgument("key file " + path.string() + " is " + std::to_string(size) +
                                   " bytes; an ertrchain key file is under 4 KiB");
  }
  std::ifstream in(path, std::ios::binary);
  Bytes data(size);
  if (!in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(size))) {
    return Status::IoError("cannot read key file " + path.string());
  }
  return data;
}

}  // namespace ertr::crypto
