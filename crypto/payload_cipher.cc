#include "crypto/payload_cipher.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "common/check.h"
#include "crypto/chacha_poly.h"
#include "crypto/secure_buffer.h"

namespace ertr::crypto {

namespace {

using StreamState = crypto_secretstream_xchacha20poly1305_state;
constexpr char kMagic[8] = {'E', 'R', 'T', 'R', 'P', 'L', 'D', '1'};
constexpr std::size_t kAdSize = 12;  // magic || chunk_size

static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == 24);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == kPayloadChunkOverhead);
static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == DataKey::kSize);
static_assert(kPayloadHeaderSize == kAdSize + 24);

bool ValidChunkSize(std::uint64_t cs) {
  return cs >= kMinPayloadChunkSize && cs <= kMaxPayloadChunkSize;
}

}  // namespace

std::uint64_t PayloadCiphertextSize(std::uint64_t plaintext_size, std::uint32_t chunk_size) {
  std::uint64_t chunks = plaintext_size == 0 ? 1 : (plaintext_size + chunk_size - 1) / chunk_size;
  return kPayloadHeaderSize + plaintext_size + chunks * kPayloadChunkOverhead;
}

struct PayloadEncryptor::State {
  StreamState stream{};
  internal::ChaChaPoly engine;
  std::array<std::uint8_t, kPayloadHeaderSize> header{};
  std::uint32_t chunk_size = 0;
  SecureBuffer plain;
  std::size_t filled = 0;
  bool header_emitted = false;
  bool finished = false;
  ~State() { sodium_memzero(&stream, sizeof(stream)); }
};

Result<PayloadEncryptor> PayloadEncryptor::Create(const DataKey& key, std::uint32_t chunk_size) {
  if (!ValidChunkSize(chunk_size)) {
    return Status::InvalidArgument("payload chunk size " + std::to_string(chunk_size) +
                                   " is outside 1 KiB .. 16 MiB");
  }
  auto st = std::make_unique<State>();
  st->chunk_size = chunk_size;
  st->plain = SecureBuffer(chunk_size);
  std::memcpy(st->header.data(), kMagic, sizeof(kMagic));
  Bytes cs;
  PutU32Le(cs, chunk_size);
  std::memcpy(st->header.data() + 8, cs.data(), 4);
  crypto_secretstream_xchacha20poly1305_init_push(&st->stream, st->header.data() + kAdSize,
                                                  key.UnsafeBytes().data());
  return PayloadEncryptor(std::move(st));
}

PayloadEncryptor::PayloadEncryptor(std::unique_ptr<State> state) : state_(std::move(state)) {}
PayloadEncryptor::PayloadEncryptor(PayloadEncryptor&&) noexcept = default;
PayloadEncryptor& PayloadEncryptor::operator=(PayloadEncryptor&&) noexcept = default;
PayloadEncryptor::~PayloadEncryptor() = default;

void PayloadEncryptor::EmitChunk(bool final, Bytes& out) {
  State& st = *state_;
  if (!st.header_emitted) {
    Append(out, st.header);
    st.header_emitted = true;
  }
  std::size_t old = out.size();
  out.resize(old + st.filled + kPayloadChunkOverhead);
  st.engine.SecretstreamPush(st.stream, ByteSpan(st.plain.data(), st.filled),
                             ByteSpan(st.header.data(), kAdSize),
                             final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL
                                   : crypto_secretstream_xchacha20poly1305_TAG_MESSAGE,
                             out.data() + old);
  st.plain.Wipe();
  st.filled = 0;
}

void PayloadEncryptor::Update(ByteSpan plaintext, Bytes& out) {
  State& st = *state_;
  ERTR_CHECK(!st.finished);
  if (!st.header_emitted) {
    Append(out, st.header);
    st.header_emitted = true;
  }
  while (!plaintext.empty()) {
    // A full chunk is emitted only once more data arrives, so the last chunk is never empty
    // (except for an empty payload) and always carries the FINAL tag.
    if (st.filled == st.chunk_size) EmitChunk(false, out);
    std::size_t n = std::min<std::size_t>(st.chunk_size - st.filled, plaintext.size());
    std::memcpy(st.plain.data() + st.filled, plaintext.data(), n);
    st.filled += n;
    plaintext = plaintext.subspan(n);
  }
}

void PayloadEncryptor::Finish(Bytes& out) {
  ERTR_CHECK(!state_->finished);
  EmitChunk(true, out);
  state_->finished = true;
}

struct PayloadDecryptor::State {
  DataKey key;
  StreamState stream{};
  internal::ChaChaPoly engine;
  Bytes header;
  bool header_done = false;
  std::uint32_t chunk_size = 0;
  Bytes cipher;
  bool finished = false;
  std::uint64_t chunks = 0;
  std::uint64_t plain_bytes = 0;
  ~State() { sodium_memzero(&stream, sizeof(stream)); }
};

PayloadDecryptor::PayloadDecryptor(const DataKey& key) : state_(std::make_unique<State>()) {
  std::copy(key.UnsafeBytes().begin(), key.UnsafeBytes().end(), state_->key.MutableBytes().begin());
}
PayloadDecryptor::PayloadDecryptor(PayloadDecryptor&&) noexcept = default;
PayloadDecryptor& PayloadDecryptor::operator=(PayloadDecryptor&&) noexcept = default;
PayloadDecryptor::~PayloadDecryptor() = default;

std::uint64_t PayloadDecryptor::plaintext_bytes() const { return state_->plain_bytes; }

Status PayloadDecryptor::DecryptChunk(bool must_be_final, Bytes& out) {
  State& st = *state_;
  if (st.cipher.size() < kPayloadChunkOverhead) {
    return Status::DataLoss("payload is truncated: chunk " + std::to_string(st.chunks) +
                            " has only " + std::to_string(st.cipher.size()) + " bytes");
  }
  std::size_t old = out.size();
  const std::size_t needed = old + st.cipher.size() - kPayloadChunkOverhead;
  if (needed > out.capacity()) {
    // Grown here, not by resize: the plaintext already in `out` is wiped from the buffer it
    // leaves instead of staying in freed memory.
    Bytes grown;
    grown.reserve(std::max(needed, 2 * out.capacity()));
    grown.assign(out.begin(), out.end());
    out.resize(out.capacity());  // the whole old buffer, what lies past its size included
    Wipe(std::span<std::uint8_t>(out.data(), out.size()));
    out.swap(grown);
  }
  out.resize(needed);
  const std::size_t plen = st.cipher.size() - kPayloadChunkOverhead;
  std::uint8_t tag = 0;
  if (!st.engine.SecretstreamPull(st.stream, st.cipher, ByteSpan(st.header.data(), kAdSize), tag,
                                  out.data() + old)) {
    out.resize(old);  // nothing was decrypted
    return Status::DataLoss("payload chunk " + std::to_string(st.chunks) +
                            " failed authentication: the ciphertext was modified or reordered, "
                            "or it was not encrypted with this data key");
  }
  st.cipher.clear();
  ++st.chunks;
  st.plain_bytes += plen;
  bool is_final = tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  if (!is_final && tag != crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    return Status::DataLoss("payload chunk " + std::to_string(st.chunks - 1) + " has tag " +
                            std::to_string(tag) + "; only MESSAGE and a last FINAL are allowed");
  }
  if (is_final && plen == 0 && st.chunks > 1) {
    return Status::DataLoss(
        "payload ends with an empty final chunk after data; refuse it "
        "(not a ciphertext this format produces)");
  }
  if (is_final && !must_be_final) {
    return Status::DataLoss("payload has bytes after its final chunk (chunk " +
                            std::to_string(st.chunks - 1) + "); refuse it");
  }
  if (!is_final && must_be_final) {
    return Status::DataLoss("payload is truncated: its final chunk is missing");
  }
  if (is_final) st.finished = true;
  return Status::Ok();
}

Status PayloadDecryptor::Update(ByteSpan ciphertext, Bytes& out) {
  State& st = *state_;
  if (st.finished) {
    if (ciphertext.empty()) return Status::Ok();
    return Status::DataLoss("payload has bytes after its final chunk; refuse it");
  }
  while (!ciphertext.empty()) {
    if (!st.header_done) {
      std::size_t n = std::min(kPayloadHeaderSize - st.header.size(), ciphertext.size());
      Append(st.header, ciphertext.first(n));
      ciphertext = ciphertext.subspan(n);
      if (st.header.size() < kPayloadHeaderSize) break;
      if (std::memcmp(st.header.data(), kMagic, sizeof(kMagic)) != 0) {
        return Status::InvalidArgument(
            "not an ertrchain encrypted payload: header magic is not 'ERTRPLD1'");
      }
      st.chunk_size = LoadU32Le(st.header.data() + 8);
      if (!ValidChunkSize(st.chunk_size)) {
        return Status::InvalidArgument("encrypted payload header: chunk size " +
                                       std::to_string(st.chunk_size) +
                                       " is outside 1 KiB .. 16 MiB");
      }
      if (crypto_secretstream_xchacha20poly1305_init_pull(&st.stream, st.header.data() + kAdSize,
                                                          st.key.UnsafeBytes().data()) != 0) {
        return Status::DataLoss("encrypted payload header is invalid");
      }
      st.header_done = true;
      st.cipher.reserve(st.chunk_size + kPayloadChunkOverhead);
      continue;
    }
    const std::size_t full = st.chunk_size + kPayloadChunkOverhead;
    if (st.cipher.size() == full) ERTR_RETURN_IF_ERROR(DecryptChunk(false, out));
    std::size_t n = std::min(full - st.cipher.size(), ciphertext.size());
    Append(st.cipher, ciphertext.first(n));
    ciphertext = ciphertext.subspan(n);
  }
  return Status::Ok();
}

Status PayloadDecryptor::Finish(Bytes& out) {
  State& st = *state_;
  if (st.finished) return Status::FailedPrecondition("payload decryptor already finished");
  if (!st.header_done) {
    return Status::DataLoss("payload is truncated: its " + std::to_string(kPayloadHeaderSize) +
                            "-byte header is incomplete");
  }
  return DecryptChunk(true, out);
}

Bytes EncryptPayload(const DataKey& key, ByteSpan plaintext, std::uint32_t chunk_size) {
  auto enc = PayloadEncryptor::Create(key, chunk_size);
  ERTR_CHECK(enc.has_value());
  Bytes out;
  out.reserve(PayloadCiphertextSize(plaintext.size(), chunk_size));
  enc->Update(plaintext, out);
  enc->Finish(out);
  return out;
}

Result<Bytes> DecryptPayload(const DataKey& key, ByteSpan ciphertext) {
  PayloadDecryptor dec(key);
  Bytes out;
  ERTR_RETURN_IF_ERROR(dec.Update(ciphertext, out));
  ERTR_RETURN_IF_ERROR(dec.Finish(out));
  return out;
}

}  // namespace ertr::crypto
