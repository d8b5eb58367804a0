#pragma once

// Streaming payload encryption for record payloads of any size in bounded memory
// (docs/spec/crypto.md section 4). A random 32-byte data key per record; libsodium's
// crypto_secretstream_xchacha20poly1305 over fixed-size plaintext chunks.
//
// Ciphertext layout:
//   header  = "ERTRPLD1" (8) || u32le chunk_size (4) || secretstream header (24)        = 36 bytes
//   chunk_i = secretstream_push(plain_i, ad = first 12 header bytes, tag)   = |plain_i| + 17 bytes
// Every chunk but the last holds exactly chunk_size plaintext bytes and has tag MESSAGE; the last
// holds 0..chunk_size bytes (0 only for an empty payload) and has tag FINAL. Truncation,
// reordering, dropping or appending chunks, and any flipped byte are detected.
//
// Memory: one chunk of plaintext (guarded memory) and one of ciphertext, whatever the payload size.
// Thread-safety: one object per stream, one thread at a time.

#include <cstdint>
#include <memory>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/secret_key.h"
#include "crypto/secure_buffer.h"

namespace ertr::crypto {

using DataKey = SecretKey<32>;

inline constexpr std::size_t kPayloadHeaderSize = 36;
inline constexpr std::size_t kPayloadChunkOverhead = 17;
inline constexpr std::uint32_t kDefaultPayloadChunkSize = 64 * 1024;
inline constexpr std::uint32_t kMinPayloadChunkSize = 1024;
inline constexpr std::uint32_t kMaxPayloadChunkSize = 16 * 1024 * 1024;

// Exact ciphertext size for a plaintext of `plaintext_size` bytes.
std::uint64_t PayloadCiphertextSize(std::uint64_t plaintext_size,
                                    std::uint32_t chunk_size = kDefaultPayloadChunkSize);

class PayloadEncryptor {
 public:
  // Error if chunk_size is outside [kMinPayloadChunkSize, kMaxPayloadChunkSize].
  static Result<PayloadEncryptor> Create(const DataKey& key,
                                         std::uint32_t chunk_size = kDefaultPayloadChunkSize);
  PayloadEncryptor(PayloadEncryptor&&) noexcept;
  PayloadEncryptor& operator=(PayloadEncryptor&&) noexcept;
  ~PayloadEncryptor();

  // Appends ciphertext for the plaintext given so far to `out` (the header on the first call).
  // Requires: Finish() not yet called.
  void Update(ByteSpan plaintext, Bytes& out);
  // Appends the final chunk. Requires: called once.
  void Finish(Bytes& out);

 private:
  struct State;
  explicit PayloadEncryptor(std::unique_ptr<State> state);
  void EmitChunk(bool final, Bytes& out);
  std::unique_ptr<State> state_;
};

class PayloadDecryptor {
 public:
  explicit PayloadDecryptor(const DataKey& key);
  PayloadDecryptor(PayloadDecryptor&&) noexcept;
  PayloadDecryptor& operator=(PayloadDecryptor&&) noexcept;
  ~PayloadDecryptor();

  // Consumes ciphertext bytes and appends the plaintext of every complete chunk to `out`.
  // Plaintext is released chunk by chunk: it is authentic but may be incomplete until Finish()
  // returns OK, so a consumer must not act on it as a whole before then.
  Status Update(ByteSpan ciphertext, Bytes& out);
  // Decrypts the last chunk. DataLoss if the stream was truncated or its final chunk is missing.
  Status Finish(Bytes& out);

  std::uint64_t plaintext_bytes() const;

 private:
  struct State;
  Status DecryptChunk(bool must_be_final, Bytes& out);
  std::unique_ptr<State> state_;
};

// Whole-buffer conveniences over the streaming classes.
Bytes EncryptPayload(const DataKey& key, ByteSpan plaintext,
                     std::uint32_t chunk_size = kDefaultPayloadChunkSize);
Result<Bytes> DecryptPayload(const DataKey& key, ByteSpan ciphertext);

}  // namespace ertr::crypto
