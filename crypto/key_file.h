#pragma once

// Key files: a secret key encrypted at rest under a passphrase (docs/spec/crypto.md section 6).
//
//   offset size field
//   0      8    magic "ERTRKEY1"
//   8      1    key type: 1 = Ed25519 signing key, 2 = X25519 encryption key
//   9      1    KDF: 2 = Argon2id v1.3 (libsodium crypto_pwhash_ALG_ARGON2ID13)
//   10     8    opslimit, u64 little-endian (1 .. 20)
//   18     8    memlimit in bytes, u64 little-endian (8 KiB .. 1 GiB)
//   26     16   salt
//   42     24   nonce
//   66     32   public key (in clear, so the key can be shown without the passphrase)
//   98     ...  crypto_secretbox_easy(header[0..98) || secret key, nonce, Argon2id(passphrase,
//   salt))
//
// The whole header is inside the authenticated plaintext, so a changed byte anywhere is detected.
// Secret sizes: Ed25519 64 bytes (libsodium seed||public), X25519 32 bytes.

#include <cstdint>
#include <filesystem>
#include <string_view>
#include <variant>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/box_key.h"
#include "crypto/signing.h"

namespace ertr::crypto {

enum class KeyType : std::uint8_t { kEd25519 = 1, kX25519 = 2 };

// Argon2id cost. kModerate is the default for keys that stay on a server; kInteractive and kMinimum
// are for tests and for short-lived demo networks.
struct KdfCost {
  std::uint64_t opslimit = 0;
  std::uint64_t memlimit = 0;
  static KdfCost Moderate();     // libsodium MODERATE: 3 passes, 256 MiB
  static KdfCost Interactive();  // libsodium INTERACTIVE: 2 passes, 64 MiB
  static KdfCost Minimum();      // 1 pass, 8 KiB: tests only
};

// What a key file holds, without decrypting it.
struct KeyFileInfo {
  KeyType type = KeyType::kEd25519;
  Bytes public_key;  // 32 bytes
  KdfCost cost;
};

using AnyKey = std::variant<SigningKey, BoxKeyPair>;

// Encodes `key` encrypted under `passphrase`. Error if the passphrase is empty or the cost is out
// of range.
Result<Bytes> EncodeKeyFile(const SigningKey& key, std::string_view passphrase, KdfCost cost);
Result<Bytes> EncodeKeyFile(const BoxKeyPair& key, std::string_view passphrase, KdfCost cost);
Result<Bytes> EncodeKeyFile(const AnyKey& key, std::string_view passphrase, KdfCost cost);

// Reads the clear header. InvalidArgument names the field that is wrong.
Result<KeyFileInfo> InspectKeyFile(ByteSpan file);

// Decrypts. Unauthenticated if the passphrase is wrong or the file was modified.
Result<AnyKey> DecodeKeyFile(ByteSpan file, std::string_view passphrase);
Result<SigningKey> DecodeSigningKeyFile(ByteSpan file, std::string_view passphrase);
Result<BoxKeyPair> DecodeBoxKeyFile(ByteSpan file, std::string_view passphrase);

// File I/O: written with mode 0600 through a temporary file, fsync and atomic rename. Refuses to
// overwrite an existing file (AlreadyExists) unless `overwrite`.
Status WriteKeyFileBytes(const std::filesystem::path& path, ByteSpan data, bool overwrite);
template <typename Key>
Status SaveKeyFile(const std::filesystem::path& path, const Key& key, std::string_view passphrase,
                   KdfCost cost, bool overwrite = false) {
  auto data = EncodeKeyFile(key, passphrase, cost);
  if (!data) return data.error();
  return WriteKeyFileBytes(path, *data, overwrite);
}
Result<Bytes> ReadKeyFileBytes(const std::filesystem::path& path);

}  // namespace ertr::crypto
