#include "common/bytes.h"

#include <algorithm>

namespace ertr {

std::string ToHex(ByteSpan bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xF]);
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

Result<Bytes> FromHex(std::string_view hex) {
  if (hex.size() % 2 != 0) {
    return Status::InvalidArgument("hex string has odd length " + std::to_string(hex.size()) +
                                   "; each byte needs two hex digits");
  }
  Bytes out(hex.size() / 2);
  for (std::size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return Status::InvalidArgument("hex string has a non-hex character at position " +
                                     std::to_string(hi < 0 ? 2 * i : 2 * i + 1));
    }
    out[i] = static_cast<std::uint8_t>((hi << 4) | lo);
  }
  return out;
}

void PutU8(Bytes& out, std::uint8_t v) { out.push_back(v); }
void PutU16Le(Bytes& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v));
  out.push_back(static_cast<std::uint8_t>(v >> 8));
}
std::array<std::uint8_t, 4> U32LeBytes(std::uint32_t v) {
  std::array<std::uint8_t, 4> out{};
  for (std::size_t i = 0; i < 4; ++i) out[i] = static_cast<std::uint8_t>(v >> (8 * i));
  return out;
}
void PutU32Le(Bytes& out, std::uint32_t v) { Append(out, U32LeBytes(v)); }
void PutU64Le(Bytes& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void PutU64Be(Bytes& out, std::uint64_t v) {
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
}
void Append(Bytes& out, ByteSpan data) { out.insert(out.end(), data.begin(), data.end()); }

std::uint32_t LoadU32Le(const std::uint8_t* p) {
  std::uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t LoadU64Le(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}
std::uint64_t LoadU64Be(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | p[i];
  return v;
}

Result<ByteSpan> ByteReader::Take(std::size_t n, std::string_view field) {
  if (remaining() < n) {
    return Status::InvalidArgument("field '" + std::string(field) + "': needs " +
                                   std::to_string(n) + " bytes, " + std::to_string(remaining()) +
                                   " left (input truncated)");
  }
  ByteSpan out = data_.subspan(pos_, n);
  pos_ += n;
  return out;
}

Result<std::uint8_t> ByteReader::U8(std::string_view field) {
  ERTR_ASSIGN_OR_RETURN(ByteSpan s, Take(1, field));
  return s[0];
}
Result<std::uint16_t> ByteReader::U16Le(std::string_view field) {
  ERTR_ASSIGN_OR_RETURN(ByteSpan s, Take(2, field));
  return static_cast<std::uint16_t>(s[0] | (s[1] << 8));
}
Result<std::uint32_t> ByteReader::U32Le(std::string_view field) {
  ERTR_ASSIGN_OR_RETURN(ByteSpan s, Take(4, field));
  return LoadU32Le(s.data());
}
Result<std::uint64_t> ByteReader::U64Le(std::string_view field) {
  ERTR_ASSIGN_OR_RETURN(ByteSpan s, Take(8, field));
  return LoadU64Le(s.data());
}

}  // namespace ertr
