// libFuzzer target: config.json parsing and validation. Never crashes, never
// throws, and whatever parses survives a round trip through spec_to_json.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "oci/spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = bw::oci::parse_spec(text);
  if (!spec) return 0;
  (void)bw::oci::validate_spec(*spec);
  auto again = bw::oci::parse_spec(bw::oci::spec_to_json(*spec));
  if (!again || !(*again == *spec)) abort();
  return 0;
}
