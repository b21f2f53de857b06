// The control socket server: connections, request lines, authorisation and
// replies. The protocol is documented in init/PROTOCOL.md.
#include "init/control.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "base/log.h"
#include "base/strings.h"

namespace bw::init {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxRequest = 64 * 1024;     // one request line, without its newline
constexpr size_t kMaxPending = 1024 * 1024;   // unsent output: stop reading requests, drop followers
constexpr size_t kMaxClients = 64;
constexpr int kListenBacklog = 64;

// Service output is not always UTF-8; invalid bytes become U+FFFD rather
// than an exception.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Replies are assembled around the id exactly as the client sent it.
std::string error_reply(const std::string& id_json, const std::string& message) {
  return "{\"id\":" + id_json + ",\"ok\":false,\"error\":" + dump(message) + "}\n";
}

std::string ok_reply(const std::string& id_json, const json& result) {
  return "{\"id\":" + id_json + ",\"ok\":true,\"result\":" + dump(result) + "}\n";
}

std::string line_message(const std::string& id_json, const std::string& line) {
  return "{\"id\":" + id_json + ",\"line\":" + dump(line) + "}\n";
}

json view_json(const ServiceView& v) {
  return json{{"name", v.name},     {"state", v.state},   {"kind", v.kind},     {"pid", v.pid},
              {"restarts", v.restarts}, {"status", v.status}, {"health", v.health}, {"since_ms", v.since_ms}};
}

std::string peer_text(const PeerCredentials& p) {
  return strf("uid %u (pid %d)", static_cast<unsigned>(p.uid), static_cast<int>(p.pid));
}

}  // namespace

struct ControlServer::Client {
  UniqueFd fd;
  uint64_t serial = 0;
  PeerCredentials peer;
  std::string in, out;
  uint32_t events = 0;   // what epoll watches for it
  bool eof = false;      // the peer will send no more requests
  bool closing = false;  // close once `out` is sent
  bool dead = false;     // closed at the end of dispatch()
  std::vector<std::pair<ServiceLog, int>> follows;  // log, subscription id
};

struct ControlServer::Request {
  std::string id_json = "null";
  std::string cmd;
  std::string service;
  bool follow = false;
};

namespace {

// Checks a request line; fills `id_json` as early as possible so that even
// an error reply carries the client's id.
Result<ControlServer::Request> parse_request(std::string_view line, std::string* id_json) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    std::string what = e.what();  // "[json.exception.parse_error.101] parse error at ..."
    if (auto pos = what.find("] "); pos != std::string::npos) what.erase(0, pos + 2);
    return make_error(0, "bad request: not JSON: %s", what.c_str());
  }
  if (!j.is_object()) return make_error(0, "bad request: expected a JSON object, found %s", j.type_name());
  ControlServer::Request r;
  if (auto it = j.find("id"); it != j.end()) {
    if (!it->is_number_integer()) return make_error(0, "bad request: 'id' must be an integer");
    r.id_json = it->dump();
    *id_json = r.id_json;
  }
  for (const auto& [key, value] : j.items()) {
    if (key != "id" && key != "cmd" && key != "service" && key != "follow")
      return make_error(0, "bad request: unknown field '%s' (expected id, cmd, service, follow)", key.c_str());
  }
  auto cmd = j.find("cmd");
  if (cmd == j.end())
    return make_error(0, "bad request: missing 'cmd' (status, start, stop, restart, logs, reboot or poweroff)");
  if (!cmd->is_string()) return make_error(0, "bad request: 'cmd' must be a string");
  r.cmd = cmd->get<std::string>();
  if (!required_role(r.cmd))
    return make_error(0,
                      "bad request: unknown command '%s' (expected status, start, stop, restart, logs, reboot or poweroff)",
                      r.cmd.c_str());
  if (auto it = j.find("service"); it != j.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>().empty())
      return make_error(0, "bad request: 'service' must be a non-empty string");
    if (r.cmd == "reboot" || r.cmd == "poweroff")
      return make_error(0, "bad request: '%s' takes no 'service'", r.cmd.c_str());
    r.service = it->get<std::string>();
  } else if (r.cmd != "status" && r.cmd != "reboot" && r.cmd != "poweroff") {
    return make_error(0, "bad request: '%s' needs a 'service'", r.cmd.c_str());
  }
  if (auto it = j.find("follow"); it != j.end()) {
    if (!it->is_boolean()) return make_error(0, "bad request: 'follow' must be true or false");
    if (r.cmd != "logs") return make_error(0, "bad request: 'follow' applies only to 'logs'");
    r.follow = it->get<bool>();
  }
  return r;
}

}  // namespace

// ------------------------------------------------------------ setup

ControlServer::ControlServer(UniqueFd epoll_fd, AccessPolicy policy, ControlHandler& handler)
    : epoll_fd_(std::move(epoll_fd)), policy_(std::move(policy)), handler_(handler) {}

Result<std::unique_ptr<ControlServer>> ControlServer::create(AccessPolicy policy, ControlHandler& handler) {
  int ep = ::epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) return sys_error("epoll_create1");
  return std::unique_ptr<ControlServer>(new ControlServer(UniqueFd(ep), std::move(policy), handler));
}

ControlServer::~ControlServer() {
  while (!clients_.empty()) close_client(clients_.begin()->first);
  if (listen_fd_ && !path_.empty()) (void)::unlink(path_.c_str());
}

Result<void> ControlServer::listen(const std::string& path) {
  struct sockaddr_un addr {};
  addr.sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    return make_error(ENAMETOOLONG, "control socket path '%s' is empty or longer than %zu bytes", path.c_str(),
                      sizeof addr.sun_path - 1);
  memcpy(addr.sun_path, path.c_str(), path.size() + 1);

  // Unprivileged users must be able to reach the socket: its directory
  // needs search permission for others (bulwark-run creates /run/bulwark
  // 0700; the container state directories inside stay 0700).
  auto slash = path.rfind('/');
  if (slash != std::string::npos && slash > 0) {
    std::string dir = path.substr(0, slash);
    if (::mkdir(dir.c_str(), 0711) < 0 && errno != EEXIST) return sys_error("mkdir '%s'", dir.c_str());
    struct stat st {};
    if (::stat(dir.c_str(), &st) < 0) return sys_error("stat '%s'", dir.c_str());
    if ((st.st_mode & S_IXOTH) == 0 &&
        ::chmod(dir.c_str(), (st.st_mode & 07777) | S_IXGRP | S_IXOTH) < 0)
      return sys_error("chmod o+x '%s'", dir.c_str());
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISSOCK(st.st_mode)) return make_error(EEXIST, "'%s' exists and is not a socket", path.c_str());
    if (::unlink(path.c_str()) < 0) return sys_error("unlink stale socket '%s'", path.c_str());
  }
  int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (s < 0) return sys_error("socket(AF_UNIX)");
  UniqueFd sock(s);
  if (::bind(s, reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0) return sys_error("bind '%s'", path.c_str());
  // Until this chmod the socket is only reachable by root: the window can
  // only refuse a connection, never admit one.
  if (::chmod(path.c_str(), 0666) < 0) return sys_error("chmod 0666 '%s'", path.c_str());
  if (::listen(s, kListenBacklog) < 0) return sys_error("listen '%s'", path.c_str());
  struct epoll_event ev {};
  ev.events = EPOLLIN;
  ev.data.fd = s;
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, s, &ev) < 0) return sys_error("epoll_ctl(ADD, listening socket)");
  listen_fd_ = std::move(sock);
  path_ = path;
  return {};
}

Result<void> ControlServer::add_client(UniqueFd conn) {
  BW_ASSIGN_OR_RETURN(PeerCredentials peer, peer_credentials(conn.get()));
  return add_client(std::move(conn), std::move(peer));
}

Result<void> ControlServer::add_client(UniqueFd conn, PeerCredentials peer) {
  int flags = ::fcntl(conn.get(), F_GETFL);
  if (flags < 0 || ::fcntl(conn.get(), F_SETFL, flags | O_NONBLOCK) < 0) return sys_error("fcntl(O_NONBLOCK)");
  auto c = std::make_unique<Client>();
  c->serial = next_serial_++;
  c->peer = std::move(peer);
  c->events = EPOLLIN;
  struct epoll_event ev {};
  ev.events = c->events;
  ev.data.fd = conn.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, conn.get(), &ev) < 0) return sys_error("epoll_ctl(ADD, client)");
  int fd = conn.get();
  c->fd = std::move(conn);
  clients_[fd] = std::move(c);
  return {};
}

// ------------------------------------------------------------ events

void ControlServer::dispatch() {
  struct epoll_event events[32];
  int n = ::epoll_wait(epoll_fd_.get(), events, 32, 0);
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (listen_fd_ && fd == listen_fd_.get()) {
      accept_clients();
      continue;
    }
    // Clients are closed only below, so an fd here cannot belong to a newer client.
    auto it = clients_.find(fd);
    if (it != clients_.end() && !it->second->dead) on_client_event(*it->second, events[i].events);
  }
  std::vector<int> dead;
  for (const auto& [fd, c] : clients_)
    if (c->dead) dead.push_back(fd);
  for (int fd : dead) close_client(fd);
}

void ControlServer::accept_clients() {
  for (int i = 0; i < 16; ++i) {
    int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE) {
        // The listening socket would stay readable and spin the loop;
        // stop watching it until a client leaves.
        log::warning("control socket: out of file descriptors; not accepting until a client disconnects");
        (void)::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, listen_fd_.get(), nullptr);
        listen_paused_ = true;
      } else if (errno != EAGAIN) {
        log::warning(strf("control socket: accept: %s, ignoring", strerror(errno)));
      }
      return;
    }
    UniqueFd conn(fd);
    if (clients_.size() >= kMaxClients) {
      std::string msg = error_reply("null", strf("too many connections (%zu); try again later", kMaxClients));
      (void)::send(fd, msg.data(), msg.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      continue;
    }
    if (auto r = add_client(std::move(conn)); !r)
      log::warning(strf("control socket: new connection: %s, ignoring", r.error().text().c_str()));
  }
}

void ControlServer::on_client_event(Client& c, uint32_t events) {
  if (events & EPOLLIN) read_client(c);
  if (!c.dead && (events & EPOLLOUT)) {
    flush(c);
    process_input(c);  // requests held back while the output was full
  }
  // Both directions shut: the peer has gone and can read nothing more.
  if (events & (EPOLLHUP | EPOLLERR)) c.dead = true;
}

void ControlServer::read_client(Client& c) {
  char buf[16384];
  ssize_t n;
  do {
    n = ::read(c.fd.get(), buf, sizeof buf);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN) c.dead = true;
    return;
  }
  if (n == 0) {
    c.eof = true;
    // A last request without its newline still counts.
    if (!c.in.empty() && c.in.back() != '\n') c.in += '\n';
  } else {
    c.in.append(buf, static_cast<size_t>(n));
  }
  process_input(c);
}

void ControlServer::process_input(Client& c) {
  while (!c.dead && !c.closing && c.out.size() <= kMaxPending) {
    size_t nl = c.in.find('\n');
    if (nl == std::string::npos) {
      if (c.in.size() > kMaxRequest) {
        // Without a newline in sight the stream cannot be resynchronised.
        send(c, error_reply("null", strf("bad request: request line longer than %zu bytes", kMaxRequest)));
        c.in.clear();
        c.closing = true;
      }
      break;
    }
    std::string line = c.in.substr(0, nl);
    c.in.erase(0, nl + 1);
    if (line.size() > kMaxRequest) {
      send(c, error_reply("null", strf("bad request: request line longer than %zu bytes", kMaxRequest)));
      continue;
    }
    std::string_view request = trim(line);
    if (!request.empty()) handle_line(c, request);
  }
  // A client that has sent everything is closed once answered, unless it
  // follows a log: then it stays until it closes its end.
  if (c.eof && c.follows.empty() && c.in.empty()) c.closing = true;
  if (c.closing && c.out.empty()) c.dead = true;
  if (!c.dead) update_events(c);
}

void ControlServer::update_events(Client& c) {
  uint32_t want = 0;
  if (!c.eof && !c.closing && c.out.size() <= kMaxPending) want |= EPOLLIN;
  if (!c.out.empty()) want |= EPOLLOUT;
  if (want == c.events) return;
  struct epoll_event ev {};
  ev.events = want;
  ev.data.fd = c.fd.get();
  if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_MOD, c.fd.get(), &ev) < 0) {
    c.dead = true;
    return;
  }
  c.events = want;
}

void ControlServer::send(Client& c, std::string message) {
  if (c.dead) return;
  c.out += message;
  flush(c);
}

void ControlServer::flush(Client& c) {
  size_t sent = 0;
  while (sent < c.out.size()) {
    ssize_t n = ::send(c.fd.get(), c.out.data() + sent, c.out.size() - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) break;
      c.dead = true;  // the peer is gone
      return;
    }
    sent += static_cast<size_t>(n);
  }
  c.out.erase(0, sent);
  if (c.closing && c.out.empty()) {
    c.dead = true;
    return;
  }
  update_events(c);
}

void ControlServer::drop(Client& c, const std::string& why) {
  log::info(strf("control socket: dropping the connection of %s: %s", peer_text(c.peer).c_str(), why.c_str()));
  for (auto& [log, id] : c.follows) log.unsubscribe(id);
  c.follows.clear();
  c.out.clear();
  c.dead = true;
  // Shutting both directions makes epoll report EPOLLHUP, so the next
  // dispatch() closes the connection even when this runs outside it.
  (void)::shutdown(c.fd.get(), SHUT_RDWR);
}

void ControlServer::close_client(int fd) {
  auto it = clients_.find(fd);
  if (it == clients_.end()) return;
  for (auto& [log, id] : it->second->follows) log.unsubscribe(id);
  (void)::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_DEL, fd, nullptr);
  clients_.erase(it);
  if (listen_paused_ && listen_fd_) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd_.get();
    if (::epoll_ctl(epoll_fd_.get(), EPOLL_CTL_ADD, listen_fd_.get(), &ev) == 0) listen_paused_ = false;
  }
}

// ------------------------------------------------------------ requests

void ControlServer::handle_line(Client& c, std::string_view line) {
  std::string id_json = "null";
  auto r = parse_request(line, &id_json);
  if (!r) return send(c, error_reply(id_json, r.error().message));
  if (!permitted(c, *r)) return;
  execute(c, *r);
}

bool ControlServer::permitted(Client& c, const Request& r) {
  Role need = *required_role(r.cmd);
  Role have = policy_.role_for(c.peer.uid, c.peer.gid, c.peer.groups);
  if (have >= need) return true;
  std::string has = have == Role::none ? "has no role" : strf("has role %s", role_name(have));
  std::string message =
      strf("permission denied: uid %u %s; '%s' needs %s", static_cast<unsigned>(c.peer.uid), has.c_str(),
           r.cmd.c_str(), role_name(need));
  std::string what = r.service.empty() ? r.cmd : r.cmd + " " + r.service;
  log::warning(strf("control socket: denied '%s' to uid %u gid %u (pid %d): %s, needs %s", what.c_str(),
                    static_cast<unsigned>(c.peer.uid), static_cast<unsigned>(c.peer.gid), static_cast<int>(c.peer.pid),
                    have == Role::none ? "no role" : strf("role %s", role_name(have)).c_str(), role_name(need)));
  send(c, error_reply(r.id_json, message));
  return false;
}

void ControlServer::execute(Client& c, const Request& r) {
  if (r.cmd == "status") {
    json services = json::array();
    for (const ServiceView& v : handler_.status())
      if (r.service.empty() || v.name == r.service) services.push_back(view_json(v));
    if (!r.service.empty() && services.empty())
      return send(c, error_reply(r.id_json, strf("no such service '%s'", r.service.c_str())));
    json result{{"services", services}};
    if (auto v = handler_.boot_verdict())
      result["boot_verdict"] = json{{"verdict", v->verdict}, {"reason", v->reason}, {"elapsed_ms", v->elapsed_ms}};
    return send(c, ok_reply(r.id_json, result));
  }
  if (r.cmd == "logs") {
    auto log = handler_.log(r.service);
    if (!log) return send(c, error_reply(r.id_json, strf("no such service '%s'", r.service.c_str())));
    json result{{"lines", log->lines()}, {"follow", r.follow}};
    send(c, ok_reply(r.id_json, result));
    if (r.follow) follow(c, *log, r.id_json);
    return;
  }
  // The rest change the system: leave a trace of who asked.
  std::string target = r.service.empty() ? "" : strf(" '%s'", r.service.c_str());
  log::info(strf("control socket: %s asks to %s%s", peer_text(c.peer).c_str(), r.cmd.c_str(), target.c_str()));
  Result<void> done;
  if (r.cmd == "start") done = handler_.start(r.service);
  else if (r.cmd == "stop") done = handler_.stop(r.service);
  else if (r.cmd == "restart") done = handler_.restart(r.service);
  else if (r.cmd == "reboot") done = handler_.reboot();
  else if (r.cmd == "poweroff") done = handler_.poweroff();
  if (!done) return send(c, error_reply(r.id_json, done.error().text()));
  send(c, ok_reply(r.id_json, json::object()));
}

void ControlServer::follow(Client& c, ServiceLog log, const std::string& id_json) {
  int fd = c.fd.get();
  uint64_t serial = c.serial;
  int id = log.subscribe([this, fd, serial, id_json](const std::string& line) {
    auto it = clients_.find(fd);
    if (it == clients_.end() || it->second->serial != serial || it->second->dead) return;
    Client& client = *it->second;
    if (client.out.size() > kMaxPending) return drop(client, "it reads its log stream too slowly");
    send(client, line_message(id_json, line));
  });
  c.follows.emplace_back(std::move(log), id);
}

}  // namespace bw::init
