// SPDX-License-Identifier: MIT
// Result<T>: a value or an Error{errno, message}; errors never cross module boundaries as
// exceptions.
#pragma once

#include <cerrno>
#include <string>
#include <utility>
#include <variant>

namespace kvmprov {

struct Error {
  int code = 0;         // errno value when the cause is a system call, else 0
  std::string message;  // one line, names the object in quotes, ends with the cause
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() { return std::get<0>(v_); }
  const T& value() const { return std::get<0>(v_); }
  T& operator*() { return value(); }
  const T& operator*() const { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error)
      : ok_(false), error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const { return error_; }

 private:
  bool ok_ = true;
  Error error_;
};

// An Error from the current errno, "CONTEXT: strerror".
Error errno_error(const std::string& context, int err = errno);

}  // namespace kvmprov
