#include "sandbox/console.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include <cstring>

#include "base/file.h"

namespace bw::sandbox {

Result<Pty> open_pty(const std::optional<oci::ConsoleSize>& size) {
  Pty pty;
  BW_ASSIGN_OR_RETURN(pty.master, open_at(AT_FDCWD, "/dev/ptmx", O_RDWR | O_NOCTTY));
  int unlock = 0;
  if (::ioctl(pty.master.get(), TIOCSPTLCK, &unlock) < 0) return sys_error("unlockpt on /dev/ptmx");
  unsigned number = 0;
  if (::ioctl(pty.master.get(), TIOCGPTN, &number) < 0) return sys_error("ptsname on /dev/ptmx");
  pty.slave_path = strf("/dev/pts/%u", number);
  // TIOCGPTPEER opens the slave through the master's own devpts instance,
  // never through a path the container could have replaced.
  int slave = ::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return sys_error("opening the slave of %s (TIOCGPTPEER)", pty.slave_path.c_str());
  pty.slave.reset(slave);
  if (size) {
    struct winsize ws {};
    ws.ws_row = static_cast<unsigned short>(size->height);
    ws.ws_col = static_cast<unsigned short>(size->width);
    if (::ioctl(pty.master.get(), TIOCSWINSZ, &ws) < 0)
      return sys_error("setting the size of %s to %ux%u", pty.slave_path.c_str(), size->width,
                       size->height);
  }
  return pty;
}

Result<void> attach_stdio_to_pty(int slave) {
  // A session leader cannot start a new session (EPERM), but it can take a
  // terminal as it is.
  if (::setsid() < 0 && !(errno == EPERM && ::getsid(0) == ::getpid())) return sys_error("setsid");
  if (::ioctl(slave, TIOCSCTTY, 0) < 0)
    return sys_error("making the pty the controlling terminal (TIOCSCTTY)");
  for (int target = 0; target <= 2; ++target) {
    if (slave == target) {
      // dup2 onto itself keeps O_CLOEXEC; stdio must survive exec.
      int flags = ::fcntl(slave, F_GETFD);
      if (flags < 0 || ::fcntl(slave, F_SETFD, flags & ~FD_CLOEXEC) < 0)
        return sys_error("clearing FD_CLOEXEC on fd %d", slave);
    } else if (::dup2(slave, target) < 0) {
      return sys_error("dup2(%d, %d)", slave, target);
    }
  }
  return {};
}

}  // namespace bw::sandbox
