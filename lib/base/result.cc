#include "base/result.h"

#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace bw {

namespace {
std::string vstrf(const char* fmt, va_list ap) {
  va_list copy;
  va_copy(copy, ap);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return fmt;
  std::string out(static_cast<size_t>(n), '\0');
  vsnprintf(out.data(), out.size() + 1, fmt, ap);
  return out;
}
}  // namespace

std::string Error::text() const {
  if (code == 0) return message;
  return message + ": " + strerror(code);
}

std::string strf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vstrf(fmt, ap);
  va_end(ap);
  return s;
}

Unexpected sys_error(const char* fmt, ...) {
  int saved = errno;
  va_list ap;
  va_start(ap, fmt);
  std::string s = vstrf(fmt, ap);
  va_end(ap);
  return Unexpected(Error{saved, std::move(s)});
}

Unexpected make_error(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  std::string s = vstrf(fmt, ap);
  va_end(ap);
  return Unexpected(Error{code, std::move(s)});
}

}  // namespace bw
