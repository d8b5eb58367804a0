#include "net/frame.h"

#include "common/check.h"

namespace ertr::net {

Bytes EncodeFrame(ByteSpan payload) {
  ERTR_CHECK(!payload.empty() && payload.size() <= kMaxFrameBytes);
  Bytes out;
  out.reserve(kFrameHeaderSize + payload.size());
  const auto n = static_cast<std::uint32_t>(payload.size());
  out.push_back(static_cast<std::uint8_t>(n >> 24));
  out.push_back(static_cast<std::uint8_t>(n >> 16));
  out.push_back(static_cast<std::uint8_t>(n >> 8));
  out.push_back(static_cast<std::uint8_t>(n));
  Append(out, payload);
  return out;
}

void FrameReader::Feed(ByteSpan data) {
  if (failed_) return;
  // Compact once the consumed prefix dominates, so the buffer stays bounded by one frame.
  if (pos_ > 0 && pos_ * 2 >= buffer_.size()) {
    buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<std::ptrdiff_t>(pos_));
    pos_ = 0;
  }
  Append(buffer_, data);
}

Result<std::optional<Bytes>> FrameReader::Next() {
  if (failed_) return Status::FailedPrecondition("frame stream failed before");
  if (buffered() < kFrameHeaderSize) return std::optional<Bytes>();
  const std::uint8_t* p = buffer_.data() + pos_;
  const std::size_t n = (std::size_t{p[0]} << 24) | (std::size_t{p[1]} << 16) |
                        (std::size_t{p[2]} << 8) | std::size_t{p[3]};
  if (n == 0 || n > max_) {
    failed_ = true;
    return Status::InvalidArgument("peer sent a frame of " + std::to_string(n) +
                                   " bytes; frames are 1.." + std::to_string(max_) + " bytes");
  }
  if (buffered() < kFrameHeaderSize + n) return std::optional<Bytes>();
  Bytes frame(p + kFrameHeaderSize, p + kFrameHeaderSize + n);
  pos_ += kFrameHeaderSize + n;
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  }
  return std::optional<Bytes>(std::move(frame));
}

}  // namespace ertr::net
