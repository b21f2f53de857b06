#include "sandbox/caps.h"

#include <sys/capability.h>
#include <sys/prctl.h>

#include <memory>
#include <set>

#include "base/log.h"

namespace bw::sandbox {

namespace {

struct CapFree {
  void operator()(cap_t c) const { (void)cap_free(c); }
};
using CapPtr = std::unique_ptr<std::remove_pointer_t<cap_t>, CapFree>;

Result<std::set<cap_value_t>> to_values(const std::vector<std::string>& names, const char* set) {
  std::set<cap_value_t> out;
  for (size_t i = 0; i < names.size(); ++i) {
    cap_value_t v;
    if (cap_from_name(names[i].c_str(), &v) < 0)
      return make_error(EINVAL, "process.capabilities.%s[%zu]: unknown capability '%s'", set, i,
                        names[i].c_str());
    // A capability this kernel does not know cannot be granted; it is also
    // not held, so leaving it out changes nothing the process can do.
    if (v <= static_cast<cap_value_t>(cap_max_bits()) - 1) out.insert(v);
  }
  return out;
}

}  // namespace

bool has_capability(const oci::Capabilities& caps, const char* name) {
  for (const auto& c : caps.effective)
    if (c == name) return true;
  return false;
}

Result<void> drop_bounding_set(const oci::Capabilities& caps) {
  BW_ASSIGN_OR_RETURN(auto keep, to_values(caps.bounding, "bounding"));
  cap_value_t last = static_cast<cap_value_t>(cap_max_bits()) - 1;
  for (cap_value_t v = 0; v <= last; ++v) {
    if (keep.count(v)) continue;
    if (cap_drop_bound(v) < 0 && errno != EINVAL) return sys_error("dropping capability %d from the bounding set", v);
  }
  return {};
}

Result<void> apply_capabilities(const oci::Capabilities& caps) {
  BW_ASSIGN_OR_RETURN(auto eff, to_values(caps.effective, "effective"));
  BW_ASSIGN_OR_RETURN(auto prm, to_values(caps.permitted, "permitted"));
  BW_ASSIGN_OR_RETURN(auto inh, to_values(caps.inheritable, "inheritable"));
  BW_ASSIGN_OR_RETURN(auto amb, to_values(caps.ambient, "ambient"));
  CapPtr c(cap_init());
  if (!c) return sys_error("cap_init");
  auto set = [&](const std::set<cap_value_t>& vals, cap_flag_t flag) -> Result<void> {
    for (cap_value_t v : vals)
      if (cap_set_flag(c.get(), flag, 1, &v, CAP_SET) < 0) return sys_error("cap_set_flag");
    return {};
  };
  BW_RETURN_IF_ERROR(set(eff, CAP_EFFECTIVE));
  BW_RETURN_IF_ERROR(set(prm, CAP_PERMITTED));
  BW_RETURN_IF_ERROR(set(inh, CAP_INHERITABLE));
  if (cap_set_proc(c.get()) < 0)
    return sys_error("process.capabilities: setting effective/permitted/inheritable (effective must be a subset of permitted)");
  if (cap_reset_ambient() < 0 && errno != EINVAL) return sys_error("clearing the ambient set");
  for (cap_value_t v : amb) {
    // The kernel only raises an ambient capability that is also permitted and
    // inheritable. Configs written for runc (whose `spec` lists ambient
    // capabilities without an inheritable set) rely on this being a warning,
    // as it is in runc and crun; the capability is then simply not ambient.
    if (cap_set_ambient(v, CAP_SET) < 0) {
      char* name = cap_to_name(v);
      log::warning(strf("process.capabilities.ambient: cannot raise '%s' (it must also be permitted and "
                        "inheritable), ignoring", name ? name : "?"));
      if (name) cap_free(name);
    }
  }
  return {};
}

}  // namespace bw::sandbox
