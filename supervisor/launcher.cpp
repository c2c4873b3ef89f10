#include "supervisor/launcher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace bp = boost::process;

namespace mvf::supervisor {

base::Result<pid_t> ProcessLauncher::launch(const LaunchRequest& request) {
  struct stat st {};
  if (::stat(request.binary.c_str(), &st) != 0) {
    return base::Error{"worker binary " + request.binary + ": " + std::strerror(errno), errno};
  }
  if (!S_ISREG(st.st_mode) || ::access(request.binary.c_str(), X_OK) != 0) {
    return base::Error{"worker binary " + request.binary + " is not an executable file", EACCES};
  }
  const pid_t parent = ::getpid();
  const int keep = request.inheritFd;
  // Runs in the child between fork and exec: async-signal-safe calls only, no logging.
  auto inChild = [parent, keep](auto&) {
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::_exit(127);  // the supervisor died before prctl
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (keep >= 0) ::fcntl(keep, F_SETFD, 0);
  };
  std::error_code ec;
  bp::child child(bp::exe = request.binary, bp::args = request.args, bp::std_in < bp::null,
                  bp::extend::on_exec_setup = inChild, ec);
  if (ec) return base::Error{"starting " + request.binary + ": " + ec.message(), ec.value()};
  pid_t pid = child.id();
  child.detach();
  return pid;
}

void ProcessLauncher::signal(pid_t pid, int sig) { ::kill(pid, sig); }

}  // namespace mvf::supervisor
