// Ownership of GLib/GObject values and GError -> Error, for the modules that
// talk to libostree. Every GObject is held by a GPtr; nothing is freed by hand.
#pragma once

#include <ostree.h>

#include <memory>
#include <string>

#include "base/result.h"

namespace bw::update {

struct GObjectUnref {
  void operator()(void* p) const { g_object_unref(p); }
};
template <class T>
using GPtr = std::unique_ptr<T, GObjectUnref>;

struct GVariantUnref {
  void operator()(GVariant* v) const { g_variant_unref(v); }
};
using VariantPtr = std::unique_ptr<GVariant, GVariantUnref>;

struct GBytesUnref {
  void operator()(GBytes* b) const { g_bytes_unref(b); }
};
using BytesPtr = std::unique_ptr<GBytes, GBytesUnref>;

// Owns a GError* filled by a libostree call; err(context) turns it into an
// Error whose message is "context: GLib's message".
class GErrorHolder {
 public:
  GErrorHolder() = default;
  ~GErrorHolder() { g_clear_error(&error_); }
  GErrorHolder(const GErrorHolder&) = delete;
  GErrorHolder& operator=(const GErrorHolder&) = delete;
  GError** out() { g_clear_error(&error_); return &error_; }
  GError* get() const { return error_; }
  std::string message() const { return error_ ? error_->message : "unknown error"; }
  Unexpected err(const std::string& context) const;

 private:
  GError* error_ = nullptr;
};

}  // namespace bw::update
