// The control socket (/run/bulwark/control.sock): one JSON object per line
// in each direction; the protocol is documented in init/PROTOCOL.md.
// Access is decided from the peer's credentials (SO_PEERCRED, SO_PEERGROUPS)
// and the roles in /etc/bulwark/access.toml (viewer: status, logs;
// operator: + start, stop, restart; admin: + reboot, poweroff). Root is
// always admin.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/paths.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "init/logbuf.h"
#include "init/loop.h"

namespace bw::init {

inline constexpr const char* kControlSocketPath = paths::kControlSocket;
inline constexpr const char* kAccessPolicyPath = paths::kAccessPolicy;

enum class Role { none, viewer, operator_, admin };
// "none", "viewer", "operator", "admin".
const char* role_name(Role r);
// The role a command needs: viewer for status and logs, operator for start,
// stop and restart, admin for reboot and poweroff; nullopt for an unknown command.
std::optional<Role> required_role(std::string_view cmd);

struct AccessPolicy {
  std::vector<std::pair<uid_t, Role>> users;
  std::vector<std::pair<gid_t, Role>> groups;
  // The highest role granted to a peer by uid, primary gid or any supplementary group.
  Role role_for(uid_t uid, gid_t gid, const std::vector<gid_t>& groups) const;
};

// User and group names, read from passwd(5) and group(5) files directly:
// bulwark-init is linked statically and does not use NSS. A missing file
// reads as empty (a name in the policy then fails to resolve, by name).
struct Accounts {
  std::map<std::string, uid_t> users;
  std::map<std::string, gid_t> groups;
  static Result<Accounts> read(const std::string& passwd_file = "/etc/passwd",
                               const std::string& group_file = "/etc/group");
};

// Parses access.toml:
//   [users]   name_or_uid = "viewer" | "operator" | "admin"
//   [groups]  name_or_gid = ...
// Errors name the file, line and field: "access.toml:3: users.alice: ...".
Result<AccessPolicy> parse_access_policy(const std::string& file, const std::string& text,
                                         const Accounts& accounts);
// Reads `path` and resolves names through /etc/passwd and /etc/group. A
// missing file is the empty policy: only root may use the socket.
Result<AccessPolicy> load_access_policy(const std::string& path = kAccessPolicyPath);

// What the supervisor offers to the control socket.
struct ServiceView {
  std::string name;
  std::string state;   // inactive, starting, running (ready), stopping, failed, backoff
  std::string kind;    // process, container
  pid_t pid = 0;
  int restarts = 0;
  std::string status;  // last STATUS= from sd_notify
  std::string health;  // "", healthy, unhealthy
  long long since_ms = 0;  // time in this state
};

// The boot verdict as `status` reports it.
struct BootVerdictView {
  std::string verdict;  // pending, good, bad, none (a shutdown came first)
  std::string reason;   // pending: what it waits for
  long long elapsed_ms = 0;  // from the start of the services to the verdict (pending: until now)
};

class ControlHandler {
 public:
  virtual ~ControlHandler() = default;
  virtual std::vector<ServiceView> status() = 0;
  virtual Result<void> start(const std::string& name) = 0;
  virtual Result<void> stop(const std::string& name) = 0;
  virtual Result<void> restart(const std::string& name) = 0;
  virtual Result<void> reboot() = 0;
  virtual Result<void> poweroff() = 0;
  // The log of a service (a shared handle), or nullopt for an unknown name.
  virtual std::optional<ServiceLog> log(const std::string& name) = 0;
  // nullopt when there is none to report (services not started yet).
  virtual std::optional<BootVerdictView> boot_verdict() { return std::nullopt; }
};

// Who is on the other end of a connection, as the kernel recorded it at
// connect() time. The credentials cannot change afterwards: a client that
// drops privileges after connecting keeps what it had, one that gains them
// (setuid exec) does not get them on this connection.
struct PeerCredentials {
  pid_t pid = 0;
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups (SO_PEERGROUPS)
};
Result<PeerCredentials> peer_credentials(int socket_fd);

// The server side of the control socket. Single-threaded and non-blocking.
// It is one EventSource for the supervisor's loop:
//
//   BW_ASSIGN_OR_RETURN(auto server, ControlServer::create(policy, supervisor));
//   BW_RETURN_IF_ERROR(server->listen(kControlSocketPath));
//   BW_RETURN_IF_ERROR(loop.add(server.get()));   // EPOLLIN
//   ...
//   loop.remove(server.get());                     // before destroying it
//
// fd() is an epoll instance of its own holding the listening socket and
// every connection (level-triggered), so the loop needs no call per
// connection: the fd is readable whenever some connection has work, and
// on_event() (= dispatch()) does that work without blocking. Lines for log
// followers are queued (and sent when the socket has room) from inside
// ServiceLog::append.
class ControlServer : public EventSource {
 public:
  static Result<std::unique_ptr<ControlServer>> create(AccessPolicy policy, ControlHandler& handler);
  ~ControlServer() override;
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Binds a SOCK_STREAM socket at `path` (mode 0666: any local user may
  // connect; each request is authorised on its own). A stale socket is
  // replaced; the parent directory is created 0711 if missing.
  Result<void> listen(const std::string& path);
  // Serves an already connected socket, authorising its requests by the
  // credentials the kernel reports for it.
  Result<void> add_client(UniqueFd conn);
  // The same with credentials vouched for by the caller (tests; a socket
  // handed over by a trusted process).
  Result<void> add_client(UniqueFd conn, PeerCredentials peer);

  int fd() const override { return epoll_fd_.get(); }
  void on_event(uint32_t) override { dispatch(); }
  // Handles whatever is ready on the socket and its connections; never blocks.
  void dispatch();

  // A new policy (a reload) applies to the next request on every connection.
  void set_policy(AccessPolicy policy) { policy_ = std::move(policy); }
  size_t client_count() const { return clients_.size(); }

  struct Client;
  struct Request;

 private:
  ControlServer(UniqueFd epoll_fd, AccessPolicy policy, ControlHandler& handler);
  void accept_clients();
  void on_client_event(Client& c, uint32_t events);
  void read_client(Client& c);
  void process_input(Client& c);
  void handle_line(Client& c, std::string_view line);
  bool permitted(Client& c, const Request& r);
  void execute(Client& c, const Request& r);
  void follow(Client& c, ServiceLog log, const std::string& id_json);
  void send(Client& c, std::string message);
  void flush(Client& c);
  void drop(Client& c, const std::string& why);
  void update_events(Client& c);
  void close_client(int fd);

  UniqueFd epoll_fd_;
  UniqueFd listen_fd_;
  std::string path_;
  AccessPolicy policy_;
  ControlHandler& handler_;
  std::map<int, std::unique_ptr<Client>> clients_;
  uint64_t next_serial_ = 1;
  bool listen_paused_ = false;  // out of fds: stop accepting until a client leaves
};

}  // namespace bw::init
