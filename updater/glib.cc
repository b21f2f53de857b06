#include "updater/glib.h"

namespace bw::update {

Unexpected GErrorHolder::err(const std::string& context) const {
  // GLib's message already carries the strerror text when there was an
  // errno, so the code stays 0 and Error::text() does not repeat it.
  return make_error(0, "%s: %s", context.c_str(), message().c_str());
}

}  // namespace bw::update
