#pragma once

// Status and Result<T>: the one error style of ertrchain (STYLE.md section 5).
//
// Every failure the outside world can cause (I/O, bad input, config, keys, peers) is returned as a
// Status whose message says what was wrong, in which field, and what to do. Our code throws
// nothing. Result<T> holds a value or a non-OK Status and is shaped like std::expected so that a
// later swap is mechanical: has_value(), value(), error(), operator*, operator->.
//
// Thread-safety: value types; distinct objects may be used from distinct threads.

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace ertr {

enum class StatusCode : int {
  kOk = 0,
  kInvalidArgument,     // malformed input: bytes, config field, request field
  kNotFound,            // the thing asked for does not exist
  kAlreadyExists,       // creating something that is there already
  kPermissionDenied,    // authenticated, but not allowed
  kUnauthenticated,     // identity could not be established (bad signature, wrong passphrase)
  kFailedPrecondition,  // the system is not in a state where the call can proceed
  kResourceExhausted,   // a bound was hit (size, memory, queue, disk)
  kUnavailable,         // transient: retry later
  kDataLoss,            // stored data is corrupt or truncated
  kIoError,             // the operating system refused an I/O call
  kInternal,            // a bug: an invariant of our own code failed
};

// Returns a stable lower-case name for the code ("invalid_argument").
std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  // The OK status.
  Status() = default;

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string msg) {
    return {StatusCode::kInvalidArgument, std::move(msg)};
  }
  static Status NotFound(std::string msg) { return {StatusCode::kNotFound, std::move(msg)}; }
  static Status AlreadyExists(std::string msg) {
    return {StatusCode::kAlreadyExists, std::move(msg)};
  }
  static Status PermissionDenied(std::string msg) {
    return {StatusCode::kPermissionDenied, std::move(msg)};
  }
  static Status Unauthenticated(std::string msg) {
    return {StatusCode::kUnauthenticated, std::move(msg)};
  }
  static Status FailedPrecondition(std::string msg) {
    return {StatusCode::kFailedPrecondition, std::move(msg)};
  }
  static Status ResourceExhausted(std::string msg) {
    return {StatusCode::kResourceExhausted, std::move(msg)};
  }
  static Status Unavailable(std::string msg) { return {StatusCode::kUnavailable, std::move(msg)}; }
  static Status DataLoss(std::string msg) { return {StatusCode::kDataLoss, std::move(msg)}; }
  static Status IoError(std::string msg) { return {StatusCode::kIoError, std::move(msg)}; }
  static Status Internal(std::string msg) { return {StatusCode::kInternal, std::move(msg)}; }
  // A status with a code chosen at run time (a mapping from another error space).
  static Status WithCode(StatusCode code, std::string msg) { return {code, std::move(msg)}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // "invalid_argument: field 'chain_id' is empty; set it in genesis.toml". "ok" for OK.
  std::string ToString() const;

  // Returns a copy whose message is "<context>: <message>", for adding where an error happened.
  Status WithContext(std::string_view context) const;

  friend bool operator==(const Status& a, const Status& b) {
    return a.code_ == b.code_ && a.message_ == b.message_;
  }

 private:
  Status(StatusCode code, std::string msg) : code_(code), message_(std::move(msg)) {}

  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

// A value of type T or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value)
      : data_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : data_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    assert(!std::get<1>(data_).ok() && "Result built from an OK Status has no value");
    if (std::get<1>(data_).ok()) {
      data_.template emplace<1>(Status::Internal("Result was built from an OK status"));
    }
  }

  bool has_value() const { return data_.index() == 0; }
  bool ok() const { return has_value(); }
  explicit operator bool() const { return has_value(); }

  // Requires: has_value().
  T& value() & { return std::get<0>(data_); }
  const T& value() const& { return std::get<0>(data_); }
  T&& value() && { return std::get<0>(std::move(data_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // Requires: !has_value().
  const Status& error() const& { return std::get<1>(data_); }
  Status status() const { return has_value() ? Status::Ok() : std::get<1>(data_); }

 private:
  std::variant<T, Status> data_;
};

}  // namespace ertr

#define ERTR_STATUS_CONCAT_INNER(a, b) a##b
#define ERTR_STATUS_CONCAT(a, b) ERTR_STATUS_CONCAT_INNER(a, b)

// Evaluates expr (a Status); returns it from the enclosing function if it is not OK.
#define ERTR_RETURN_IF_ERROR(expr)                       \
  do {                                                   \
    ::ertr::Status ertr_status_tmp_ = (expr);            \
    if (!ertr_status_tmp_.ok()) return ertr_status_tmp_; \
  } while (false)

// Evaluates rexpr (a Result<T>); on error returns its Status, else moves the value into lhs.
//   ERTR_ASSIGN_OR_RETURN(auto key, LoadKey(path));
#define ERTR_ASSIGN_OR_RETURN(lhs, rexpr) \
  ERTR_ASSIGN_OR_RETURN_IMPL(ERTR_STATUS_CONCAT(ertr_result_, __LINE__), lhs, rexpr)
#define ERTR_ASSIGN_OR_RETURN_IMPL(tmp, lhs, rexpr) \
  auto tmp = (rexpr);                               \
  if (!tmp.has_value()) return tmp.error();         \
  lhs = std::move(tmp).value()
