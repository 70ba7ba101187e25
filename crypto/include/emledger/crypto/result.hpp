// Operational errors as values (style.md): Status and Result<T>.
// Nothing in emledger throws across a library boundary; functions that can fail
// for reasons outside our control (bad input, I/O) return one of these.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <utility>
#include <variant>

// Always-on invariant check: our own logic, never untrusted input.
#define EMLEDGER_ASSERT(cond)                                                      \
  do {                                                                             \
    if (!(cond)) {                                                                 \
      std::fprintf(stderr, "assertion failed: %s at %s:%d\n", #cond, __FILE__,     \
                   __LINE__);                                                      \
      std::abort();                                                                \
    }                                                                              \
  } while (0)

namespace emledger {

// An error: a stable machine code (UPPER_SNAKE, listed in schemas/errors.json)
// and a human message. Default-constructed Status is OK.
class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status ok() { return Status(); }
  static Status error(std::string code, std::string message) {
    Status s;
    s.code_ = std::move(code);
    s.message_ = std::move(message);
    return s;
  }
  bool is_ok() const { return code_.empty(); }
  explicit operator bool() const { return is_ok(); }
  const std::string& code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const { return is_ok() ? "OK" : code_ + ": " + message_; }

 private:
  std::string code_;
  std::string message_;
};

// A value or an error Status. Accessing value() of an error is a bug (asserts).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT(implicit)
  Result(Status status) : status_(std::move(status)) {  // NOLINT(implicit)
    EMLEDGER_ASSERT(!status_.is_ok());
  }
  bool is_ok() const { return value_.has_value(); }
  explicit operator bool() const { return is_ok(); }
  const Status& status() const { return status_; }
  T& value() & {
    EMLEDGER_ASSERT(value_.has_value());
    return *value_;
  }
  const T& value() const& {
    EMLEDGER_ASSERT(value_.has_value());
    return *value_;
  }
  T&& value() && {
    EMLEDGER_ASSERT(value_.has_value());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::optional<T> value_;
  Status status_;
};

#define EMLEDGER_TRY(expr)                  \
  do {                                      \
    ::emledger::Status st_try__ = (expr);   \
    if (!st_try__.is_ok()) return st_try__; \
  } while (0)

}  // namespace emledger
