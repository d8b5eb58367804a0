#include "crypto/lthash.h"

#include <sodium.h>

#include <bit>
#include <cstring>

#include "crypto/chacha_poly.h"

namespace ertr::crypto {

static_assert(crypto_stream_chacha20_ietf_KEYBYTES == 32);

Result<LtHash16> LtHash16::FromBytes(ByteSpan bytes) {
  if (bytes.size() != kBytes) {
    return Status::DataLoss("state accumulator must be " + std::to_string(kBytes) +
                            " bytes, found " + std::to_string(bytes.size()));
  }
  LtHash16 h;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(h.lanes_.data(), bytes.data(), kBytes);
  } else {
    for (std::size_t i = 0; i < kLanes; ++i) {
      h.lanes_[i] = static_cast<std::uint16_t>(bytes[2 * i] | (bytes[2 * i + 1] << 8));
    }
  }
  return h;
}

void LtHash16::Combine(ByteSpan element, bool add) {
  Digest seed = DomainHash("ertr/lthash/v1", element);
  std::array<std::uint8_t, kBytes> stream{};
  std::array<std::uint8_t, crypto_stream_chacha20_ietf_NONCEBYTES> nonce{};
  // libcrypto's ChaCha20 (ADR 0028) through one context per thread: the seed is no secret.
  thread_local internal::ChaChaPoly engine;
  engine.Keystream(seed.data(), nonce.data(), stream.data(), stream.size());
  // The stream's little-endian u16 lanes, added or subtracted lane-wise (mod 2^16). One loop per
  // direction over plain u16 arrays, which the compiler vectorises.
  std::array<std::uint16_t, kLanes> v;
  if constexpr (std::endian::native == std::endian::little) {
    std::memcpy(v.data(), stream.data(), kBytes);
  } else {
    for (std::size_t i = 0; i < kLanes; ++i) {
      v[i] = static_cast<std::uint16_t>(stream[2 * i] | (stream[2 * i + 1] << 8));
    }
  }
  if (add) {
    for (std::size_t i = 0; i < kLanes; ++i)
      lanes_[i] = static_cast<std::uint16_t>(lanes_[i] + v[i]);
  } else {
    for (std::size_t i = 0; i < kLanes; ++i)
      lanes_[i] = static_cast<std::uint16_t>(lanes_[i] - v[i]);
  }
}

void LtHash16::Add(ByteSpan element) { Combine(element, true); }
void LtHash16::Remove(ByteSpan element) { Combine(element, false); }

namespace {
Bytes EntryElement(ByteSpan key, ByteSpan value) {
  Bytes e;
  e.reserve(4 + key.size() + value.size());
  PutU32Le(e, static_cast<std::uint32_t>(key.size()));
  Append(e, key);
  Append(e, value);
  return e;
}
}  // namespace

void LtHash16::AddEntry(ByteSpan key, ByteSpan value) { Add(EntryElement(key, value)); }
void LtHash16::RemoveEntry(ByteSpan key, ByteSpan value) { Remove(EntryElement(key, value)); }

Bytes LtHash16::ToBytes() const {
  // The lanes as little-endian u16s. A copy where that is the native order: byte by byte, this
  // was about 0.6 % of a validator's CPU at low load (once per block for its state root).
  if constexpr (std::endian::native == std::endian::little) {
    Bytes out(kBytes);
    std::memcpy(out.data(), lanes_.data(), kBytes);
    return out;
  }
  Bytes out;
  out.reserve(kBytes);
  for (std::uint16_t v : lanes_) PutU16Le(out, v);
  return out;
}

Digest LtHash16::Root() const { return DomainHash("ertr/state-root/v1", ToBytes()); }

}  // namespace ertr::crypto
