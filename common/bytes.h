#pragma once

// Byte helpers: the Bytes/ByteSpan vocabulary, hex, fixed-width integer encoding, and a
// bounds-checked reader for parsing untrusted bytes. Integers on our own formats are little-endian
// unless a spec says otherwise.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace ertr {

using Bytes = std::vector<std::uint8_t>;
using ByteSpan = std::span<const std::uint8_t>;
using MutableByteSpan = std::span<std::uint8_t>;

inline ByteSpan AsBytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsStringView(ByteSpan b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
// From a pointer range of the element type, so the copy is one memmove (char iterators would be
// converted byte by byte).
inline Bytes ToBytes(std::string_view s) {
  const ByteSpan b = AsBytes(s);
  return Bytes(b.begin(), b.end());
}
// The bytes as a std::string (protobuf `bytes` fields).
inline std::string ToString(ByteSpan b) { return std::string(AsStringView(b)); }

// Lower-case hex of the bytes.
std::string ToHex(ByteSpan bytes);
// Parses hex (upper or lower case). Error names the offending position.
Result<Bytes> FromHex(std::string_view hex);

// The little-endian bytes of v, without a buffer on the heap.
std::array<std::uint8_t, 4> U32LeBytes(std::uint32_t v);

// Appends fixed-width integers.
void PutU8(Bytes& out, std::uint8_t v);
void PutU16Le(Bytes& out, std::uint16_t v);
void PutU32Le(Bytes& out, std::uint32_t v);
void PutU64Le(Bytes& out, std::uint64_t v);
void PutU64Be(Bytes& out, std::uint64_t v);
void Append(Bytes& out, ByteSpan data);

std::uint32_t LoadU32Le(const std::uint8_t* p);
std::uint64_t LoadU64Le(const std::uint8_t* p);
std::uint64_t LoadU64Be(const std::uint8_t* p);

// Reads fields from untrusted bytes without ever reading past the end. Each read names the field
// it is reading, so a short input yields "field 'salt': needs 16 bytes, 3 left".
class ByteReader {
 public:
  explicit ByteReader(ByteSpan data) : data_(data) {}

  Result<std::uint8_t> U8(std::string_view field);
  Result<std::uint16_t> U16Le(std::string_view field);
  Result<std::uint32_t> U32Le(std::string_view field);
  Result<std::uint64_t> U64Le(std::string_view field);
  Result<ByteSpan> Take(std::size_t n, std::string_view field);
  template <std::size_t N>
  Result<std::array<std::uint8_t, N>> Array(std::string_view field) {
    auto span = Take(N, field);
    if (!span) return span.error();
    std::array<std::uint8_t, N> out{};
    std::copy(span->begin(), span->end(), out.begin());
    return out;
  }

  std::size_t remaining() const { return data_.size() - pos_; }
  ByteSpan Rest() const { return data_.subspan(pos_); }
  bool AtEnd() const { return pos_ == data_.size(); }

 private:
  ByteSpan data_;
  std::size_t pos_ = 0;
};

}  // namespace ertr
