#pragma once

// Canonical binary encoding of the chain code's state values (docs/spec/ledger.md, "State
// encoding"). One function per value type lists its fields once, in order, for both directions:
//   template <typename Archive> void Fields(Archive& ar, UserState& v) { ar(v.role, "role"); ... }
// Integers are little-endian fixed width, strings and byte strings carry a u32 length, optionals a
// u8 presence flag, vectors a u32 count, enums one byte. Every value starts with a format byte.
// Decoding is strict: trailing bytes, short input or a bad format byte are DataLoss (state is
// written only by this code and checksummed by storage, so a mismatch means corruption).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "common/bytes.h"
#include "common/status.h"
#include "crypto/fixed_bytes.h"

namespace ertr::ledger::codec {

inline constexpr std::uint8_t kStateFormat = 1;

class Writer {
 public:
  Writer() { PutU8(out_, kStateFormat); }
  Bytes Take() { return std::move(out_); }

  void operator()(const std::uint64_t& v, std::string_view) { PutU64Le(out_, v); }
  void operator()(const std::uint32_t& v, std::string_view) { PutU32Le(out_, v); }
  void operator()(const bool& v, std::string_view) { PutU8(out_, v ? 1 : 0); }
  template <typename E>
  requires std::is_enum_v<E>
  void operator()(const E& v, std::string_view) { PutU8(out_, static_cast<std::uint8_t>(v)); }
  void operator()(const std::string& v, std::string_view) { PutBlob(AsBytes(v)); }
  void operator()(const Bytes& v, std::string_view) { PutBlob(v); }
  template <std::size_t N, typename Tag>
  void operator()(const crypto::FixedBytes<N, Tag>& v, std::string_view) {
    Append(out_, v.span());
  }
  template <typename T>
  void operator()(const std::optional<T>& v, std::string_view field) {
    PutU8(out_, v ? 1 : 0);
    if (v) (*this)(*v, field);
  }
  template <typename T>
  void operator()(const std::vector<T>& v, std::string_view field) {
    PutU32Le(out_, static_cast<std::uint32_t>(v.size()));
    for (const auto& item : v) (*this)(item, field);
  }
  template <typename... Ts>
  void operator()(const std::variant<Ts...>& v, std::string_view field) {
    PutU8(out_, static_cast<std::uint8_t>(v.index()));
    std::visit(
        [&](const auto& alt) { Fields(*this, const_cast<std::decay_t<decltype(alt)>&>(alt)); }, v);
    (void)field;
  }
  // Structs with a Fields() overload.
  template <typename T>
  requires requires(Writer& w, T& t) { Fields(w, t); }
  void operator()(const T& v, std::string_view) { Fields(*this, const_cast<T&>(v)); }

 private:
  void PutBlob(ByteSpan b) {
    PutU32Le(out_, static_cast<std::uint32_t>(b.size()));
    Append(out_, b);
  }
  Bytes out_;
};

class Reader {
 public:
  explicit Reader(ByteSpan data) : in_(data) {
    auto format = in_.U8("format");
    if (!format) {
      Fail(format.error());
    } else if (*format != kStateFormat) {
      Fail(Status::DataLoss("state value has format " + std::to_string(*format) + ", expected " +
                            std::to_string(kStateFormat)));
    }
  }
  // OK iff every field decoded and nothing is left over.
  Status Finish() const {
    if (!status_.ok()) return status_;
    if (!in_.AtEnd()) return Status::DataLoss("state value has trailing bytes");
    return Status::Ok();
  }

  void operator()(std::uint64_t& v, std::string_view f) { Read(v, in_.U64Le(f)); }
  void operator()(std::uint32_t& v, std::string_view f) { Read(v, in_.U32Le(f)); }
  void operator()(bool& v, std::string_view f) {
    std::uint8_t b = 0;
    Read(b, in_.U8(f));
    v = b != 0;
  }
  template <typename E>
  requires std::is_enum_v<E>
  void operator()(E& v, std::string_view f) {
    std::uint8_t b = 0;
    Read(b, in_.U8(f));
    v = static_cast<E>(b);
  }
  void operator()(std::string& v, std::string_view f) {
    ByteSpan b = Blob(f);
    v.assign(AsStringView(b));
  }
  void operator()(Bytes& v, std::string_view f) {
    ByteSpan b = Blob(f);
    v.assign(b.begin(), b.end());
  }
  template <std::size_t N, typename Tag>
  void operator()(crypto::FixedBytes<N, Tag>& v, std::string_view f) {
    std::array<std::uint8_t, N> a{};
    Read(a, in_.Array<N>(f));
    v = crypto::FixedBytes<N, Tag>(a);
  }
  template <typename T>
  void operator()(std::optional<T>& v, std::string_view f) {
    bool present = false;
    (*this)(present, f);
    v.reset();
    if (present && status_.ok()) {
      T item{};
      (*this)(item, f);
      v = std::move(item);
    }
  }
  template <typename T>
  void operator()(std::vector<T>& v, std::string_view f) {
    std::uint32_t n = 0;
    (*this)(n, f);
    v.clear();
    for (std::uint32_t i = 0; i < n && status_.ok(); ++i) {
      if (in_.remaining() == 0) {
        Fail(Status::DataLoss("state field '" + std::string(f) + "' count exceeds the data"));
        break;
      }
      T item{};
      (*this)(item, f);
      v.push_back(std::move(item));
    }
  }
  template <typename... Ts>
  void operator()(std::variant<Ts...>& v, std::string_view f) {
    std::uint8_t index = 0;
    Read(index, in_.U8(f));
    if (!status_.ok()) return;
    if (index >= sizeof...(Ts)) {
      Fail(Status::DataLoss("state field '" + std::string(f) + "' has a bad variant index"));
      return;
    }
    Emplace<0, Ts...>(v, index);
    std::visit([&](auto& alt) { Fields(*this, alt); }, v);
  }
  template <typename T>
  requires requires(Reader& r, T& t) { Fields(r, t); }
  void operator()(T& v, std::string_view) { Fields(*this, v); }

 private:
  template <std::size_t I, typename V>
  void Emplace(V&, std::uint8_t) {}
  template <std::size_t I, typename T, typename... Rest, typename V>
  void Emplace(V& v, std::uint8_t index) {
    if (index == I) {
      v.template emplace<I>();
    } else {
      Emplace<I + 1, Rest...>(v, index);
    }
  }
  template <typename T, typename R>
  void Read(T& out, R&& result) {
    if (!status_.ok()) return;
    if (!result) {
      Fail(Status::DataLoss("state value: " + result.error().message()));
      return;
    }
    out = static_cast<T>(*result);
  }
  ByteSpan Blob(std::string_view f) {
    std::uint32_t n = 0;
    (*this)(n, f);
    if (!status_.ok()) return {};
    auto b = in_.Take(n, f);
    if (!b) {
      Fail(Status::DataLoss("state value: " + b.error().message()));
      return {};
    }
    return *b;
  }
  void Fail(Status s) {
    if (status_.ok()) status_ = std::move(s);
  }

  ByteReader in_;
  Status status_;
};

template <typename T>
Bytes Encode(const T& value) {
  Writer w;
  w(value, "value");
  return w.Take();
}

template <typename T>
Result<T> Decode(ByteSpan bytes) {
  T value{};
  Reader r(bytes);
  r(value, "value");
  ERTR_RETURN_IF_ERROR(r.Finish());
  return value;
}

}  // namespace ertr::ledger::codec
