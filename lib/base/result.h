// One error type for the whole codebase: an errno-style code plus a context
// string that grows as the error travels up ("creating container 'x': mount ...").
#pragma once

#include <cerrno>
#include <string>
#include <utility>

#include <tl/expected.hpp>

namespace bw {

struct Error {
  int code = 0;          // errno value, or 0 when the failure is not a syscall's
  std::string message;   // what failed, with its arguments

  // Prefixes context, keeping the code: "starting 'x': " + message.
  Error& prefix(const std::string& context) {
    message = context + ": " + message;
    return *this;
  }
  // The full text a person reads: message plus strerror(code) when there is one.
  std::string text() const;
};

template <class T>
using Result = tl::expected<T, Error>;

using Unexpected = tl::unexpected<Error>;

// printf-style formatting into a std::string; the compiler checks the arguments.
std::string strf(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// An error from a failed syscall: takes errno now, before anything can clobber it.
Unexpected sys_error(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
// An error with an explicit code (0 for input errors: bad config, bad request).
Unexpected make_error(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// Adds context to an error result on its way up.
template <class T>
Result<T> with_context(Result<T> r, const std::string& context) {
  if (!r) r.error().prefix(context);
  return r;
}

}  // namespace bw

// Propagates an error from an expression returning Result<T>.
#define BW_RETURN_IF_ERROR(expr)                                  \
  do {                                                           \
    auto _bw_r = (expr);                                         \
    if (!_bw_r) return ::bw::Unexpected(std::move(_bw_r).error()); \
  } while (0)

#define BW_CONCAT_INNER(a, b) a##b
#define BW_CONCAT(a, b) BW_CONCAT_INNER(a, b)

// `BW_ASSIGN_OR_RETURN(auto fd, open_file(...));`
#define BW_ASSIGN_OR_RETURN(lhs, expr) \
  BW_ASSIGN_OR_RETURN_IMPL(BW_CONCAT(_bw_ar_, __LINE__), lhs, expr)
#define BW_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr)                  \
  auto tmp = (expr);                                             \
  if (!tmp) return ::bw::Unexpected(std::move(tmp).error());     \
  lhs = std::move(tmp).value()
