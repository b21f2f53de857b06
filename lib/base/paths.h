// Well-known paths shared by Bulwark's programs: the interfaces between
// them are files and sockets at these places, not each other's code.
#pragma once

namespace bw::paths {

// bulwark-init's control socket; bulwarkctl connects here (init/PROTOCOL.md).
inline constexpr const char kControlSocket[] = "/run/bulwark/control.sock";
// Who may do what on the control socket (init/control.h).
inline constexpr const char kAccessPolicy[] = "/etc/bulwark/access.toml";

}  // namespace bw::paths
