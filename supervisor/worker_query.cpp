#include "supervisor/worker_query.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/process/args.hpp>
#include <boost/process/child.hpp>
#include <boost/process/exe.hpp>
#include <boost/process/extend.hpp>
#include <boost/process/io.hpp>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "base/format.h"
#include "base/process.h"
#include "base/unique_fd.h"
#include "base/worker_event.h"
#include "proto/supervisor.pb.h"

namespace bp = boost::process;

namespace mvf::supervisor {
namespace {

constexpr auto kAnswerTimeout = std::chrono::seconds(5);

struct Ran {
  int status = 0;  // the native wait status
  std::string out;
  std::string err;
};

// Runs `binary args` with its stdout and stderr read here, and waits for exactly its pid.
// Not Boost's wait_for: it waits with sigtimedwait(SIGCHLD) and would take the signal of
// a worker dying meanwhile from the supervisor's signalfd, and that worker would never
// be reaped.
base::Result<Ran> run(const std::string& binary, const std::vector<std::string>& args) {
  int outPipe[2], errPipe[2];
  if (::pipe2(outPipe, O_CLOEXEC) != 0)
    return base::Error{"pipe2: " + std::string(std::strerror(errno))};
  base::UniqueFd outRead(outPipe[0]), outWrite(outPipe[1]);
  if (::pipe2(errPipe, O_CLOEXEC) != 0)
    return base::Error{"pipe2: " + std::string(std::strerror(errno))};
  base::UniqueFd errRead(errPipe[0]), errWrite(errPipe[1]);
  int toOut = outWrite.get(), toErr = errWrite.get();
  // In the child between fork and exec: async-signal-safe calls only.
  auto redirect = [toOut, toErr](auto&) {
    ::dup2(toOut, STDOUT_FILENO);
    ::dup2(toErr, STDERR_FILENO);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
  };
  std::error_code ec;
  bp::child child(bp::exe = binary, bp::args = args, bp::std_in < bp::null,
                  bp::extend::on_exec_setup = redirect, ec);
  if (ec) return base::Error{"running " + binary + ": " + ec.message(), ec.value()};
  pid_t pid = child.id();
  child.detach();
  outWrite.reset();
  errWrite.reset();

  Ran ran;
  auto deadline = std::chrono::steady_clock::now() + kAnswerTimeout;
  std::vector<std::pair<base::UniqueFd*, std::string*>> open = {{&outRead, &ran.out},
                                                                {&errRead, &ran.err}};
  while (!open.empty()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    std::vector<pollfd> fds;
    for (auto& [fd, text] : open) fds.push_back({fd->get(), POLLIN, 0});
    if (left <= 0 || ::poll(fds.data(), fds.size(), static_cast<int>(left)) == 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      return base::Error{binary + " --check-config gave no answer within 5 s"};
    }
    for (size_t i = fds.size(); i-- > 0;) {
      if (fds[i].revents == 0) continue;
      char chunk[4096];
      ssize_t n = ::read(fds[i].fd, chunk, sizeof(chunk));
      if (n > 0) {
        open[i].second->append(chunk, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        open.erase(open.begin() + static_cast<long>(i));
      }
    }
  }
  if (::waitpid(pid, &ran.status, 0) != pid) {
    return base::Error{"waitpid(" + std::to_string(pid) + "): " + std::strerror(errno), errno};
  }
  return ran;
}

}  // namespace

base::Result<WorkerAnswer> askWorker(const std::string& binary,
                                     const std::vector<std::string>& args, bool json) {
  std::vector<std::string> argv = {json ? "--check-config=json" : "--check-config"};
  argv.insert(argv.end(), args.begin(), args.end());
  auto ran = run(binary, argv);
  if (!ran) return ran.error();
  int status = ran.value().status;
  bool exited = WIFEXITED(status);
  int code = exited ? WEXITSTATUS(status) : -1;
  if (!exited || (code != base::kExitOk && code != base::kExitConfig)) {
    return base::Error{binary + " --check-config failed (" +
                       (exited ? "exit " + std::to_string(code) : "killed by a signal") +
                       "): " + ran.value().err};
  }
  WorkerAnswer answer;
  answer.valid = code == base::kExitOk;
  answer.output = ran.value().out;
  if (!json) {
    answer.error = ran.value().err;
    return answer;
  }
  auto check = base::parseConfigCheck(ran.value().out);
  if (!check) {
    return base::Error{
        binary + " --check-config=json answered no ConfigCheck: " + ran.value().out.substr(0, 200)};
  }
  // The exit code and the answer say the same, and a refusal says why: anything else is
  // no answer of a worker of ours (a JSON object with none of its fields reads as one
  // with defaults).
  if (check->valid() != (code == base::kExitOk) || (!check->valid() && check->error().empty())) {
    return base::Error{binary + " --check-config=json exited " + std::to_string(code) +
                       " but answered valid=" + (check->valid() ? "true" : "false") +
                       (check->valid() ? "" : " without a reason") + ": " +
                       ran.value().out.substr(0, 200)};
  }
  answer.valid = check->valid();
  answer.error = check->error();
  answer.digest = check->digest();
  for (const auto& setting : check->settings()) {
    answer.settings[setting.name()] = fmt::format("{}", fmt::join(setting.values(), ","));
  }
  return answer;
}

}  // namespace mvf::supervisor
