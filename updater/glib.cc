#include "updater/glib.h"

#include <gio/gio.h>

namespace bw::update {

Unexpected GErrorHolder::err(const std::string& context) const {
  int code = 0;
  if (error_ && error_->domain == G_IO_ERROR) {
    switch (error_->code) {
      case G_IO_ERROR_NO_SPACE: code = ENOSPC; break;
      case G_IO_ERROR_NOT_FOUND: code = ENOENT; break;
      case G_IO_ERROR_PERMISSION_DENIED: code = EACCES; break;
      case G_IO_ERROR_CANCELLED: code = ECANCELED; break;
      case G_IO_ERROR_TIMED_OUT: code = ETIMEDOUT; break;
      default: break;
    }
  }
  // GLib's message already carries strerror text when there was an errno.
  return make_error(0, "%s: %s%s", context.c_str(), message().c_str(),
                    code == ENOSPC && !g_strrstr(message().c_str(), "space") ? " (no space left on device)" : "");
}

}  // namespace bw::update
