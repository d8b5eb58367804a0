#include "net/frame.h"

#include <algorithm>
#include <cstring>

#include "common/check.h"

namespace ertr::net {

Bytes EncodeFrame(ByteSpan payload) {
  Bytes out(kFrameHeaderSize);
  out.reserve(kFrameHeaderSize + payload.size());
  Append(out, payload);
  SetFrameHeader(out);
  return out;
}

void SetFrameHeader(Bytes& frame) {
  ERTR_CHECK(frame.size() > kFrameHeaderSize && frame.size() - kFrameHeaderSize <= kMaxFrameBytes);
  const auto n = static_cast<std::uint32_t>(frame.size() - kFrameHeaderSize);
  frame[0] = static_cast<std::uint8_t>(n >> 24);
  frame[1] = static_cast<std::uint8_t>(n >> 16);
  frame[2] = static_cast<std::uint8_t>(n >> 8);
  frame[3] = static_cast<std::uint8_t>(n);
}

namespace {

// A buffer this large is kept for the next frames (a stream of 1 MiB blob chunks reuses it);
// a larger one, needed for a rare bigger frame, is released once empty.
constexpr std::size_t kKeptBufferBytes = 2u << 20;

std::size_t DeclaredLength(const std::uint8_t* p) {
  return (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) | (std::size_t{p[2]} << 8) |
         std::size_t{p[3]};
}

}  // namespace

MutableByteSpan FrameReader::ReadArea(std::size_t min_bytes) {
  if (begin_ == end_) {
    begin_ = end_ = 0;
    if (capacity_ > kKeptBufferBytes && min_bytes <= kKeptBufferBytes) {
      buffer_.reset();
      capacity_ = 0;
    }
  }
  if (capacity_ - end_ < min_bytes) {
    const std::size_t held = end_ - begin_;
    if (capacity_ >= held + min_bytes) {
      // Enough room once the consumed prefix is dropped.
      std::memmove(buffer_.get(), buffer_.get() + begin_, held);
    } else {
      const std::size_t cap = std::max(held + min_bytes, std::min(2 * capacity_, held + max_));
      auto bigger = std::make_unique_for_overwrite<std::uint8_t[]>(cap);
      if (held != 0) std::memcpy(bigger.get(), buffer_.get() + begin_, held);
      buffer_ = std::move(bigger);
      capacity_ = cap;
    }
    begin_ = 0;
    end_ = held;
  }
  return MutableByteSpan(buffer_.get() + end_, capacity_ - end_);
}

void FrameReader::Commit(std::size_t n) {
  ERTR_CHECK(n <= capacity_ - end_);
  end_ += n;
}

void FrameReader::Feed(ByteSpan data) {
  if (failed_ || data.empty()) return;
  auto area = ReadArea(data.size());
  std::memcpy(area.data(), data.data(), data.size());
  Commit(data.size());
}

std::size_t FrameReader::missing() const {
  if (buffered() < kFrameHeaderSize) return kFrameHeaderSize - buffered();
  const std::size_t need = kFrameHeaderSize + DeclaredLength(buffer_.get() + begin_);
  return need > buffered() ? need - buffered() : 0;
}

Result<std::optional<ByteSpan>> FrameReader::NextView() {
  if (failed_) return Status::FailedPrecondition("frame stream failed before");
  if (buffered() < kFrameHeaderSize) return std::optional<ByteSpan>();
  const std::uint8_t* p = buffer_.get() + begin_;
  const std::size_t n = DeclaredLength(p);
  if (n == 0 || n > max_) {
    failed_ = true;
    return Status::InvalidArgument("peer sent a frame of " + std::to_string(n) +
                                   " bytes; frames are 1.." + std::to_string(max_) + " bytes");
  }
  if (buffered() < kFrameHeaderSize + n) return std::optional<ByteSpan>();
  begin_ += kFrameHeaderSize + n;
  return std::optional<ByteSpan>(ByteSpan(p + kFrameHeaderSize, n));
}

Result<std::optional<Bytes>> FrameReader::Next() {
  ERTR_ASSIGN_OR_RETURN(auto view, NextView());
  if (!view) return std::optional<Bytes>();
  return std::optional<Bytes>(Bytes(view->begin(), view->end()));
}

}  // namespace ertr::net
