#include "tests/support/worker_process.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace mvf::testing {

using Clock = std::chrono::steady_clock;

WorkerProcess::WorkerProcess(const std::string& binary, const std::vector<std::string>& args,
                             const std::string& logPath, bool notify)
    : logPath_(logPath) {
  int pipeFds[2] = {-1, -1};
  if (notify && ::pipe2(pipeFds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
  std::vector<std::string> argv = {binary};
  argv.insert(argv.end(), args.begin(), args.end());
  if (notify) argv.insert(argv.end(), {"--notify-fd", "3"});
  std::vector<char*> raw;
  for (auto& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  base::UniqueFd log(::open(logPath.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid_ == 0) {
    // A test killed by its timeout must not leave workers behind.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);
    ::dup2(log.get(), 1);
    ::dup2(log.get(), 2);
    if (notify) ::dup2(pipeFds[1], 3);
    ::execv(binary.c_str(), raw.data());
    ::_exit(127);
  }
  if (notify) {
    ::close(pipeFds[1]);
    events_fd_.reset(pipeFds[0]);
  }
  pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid_, 0)));
}

WorkerProcess::~WorkerProcess() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool WorkerProcess::awaitEvent(const std::string& event, std::chrono::milliseconds timeout) {
  const std::string wanted = "\"event\":\"" + event + "\"";
  auto deadline = Clock::now() + timeout;
  size_t checked = 0;  // events_ holds only what no earlier await consumed
  while (true) {
    for (; checked < events_.size(); ++checked) {
      if (events_[checked].find(wanted) != std::string::npos) {
        lastEvent_ = events_[checked];
        // Consume up to the match, so the next await looks for a newer event.
        events_.erase(events_.begin(), events_.begin() + static_cast<long>(checked) + 1);
        return true;
      }
    }
    auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0 || !events_fd_) return false;
    pollfd pfd{events_fd_.get(), POLLIN, 0};
    if (::poll(&pfd, 1, static_cast<int>(left)) <= 0) continue;
    char chunk[4096];
    ssize_t n = ::read(events_fd_.get(), chunk, sizeof(chunk));
    if (n <= 0) {
      events_fd_.reset();
      continue;
    }
    buffer_.append(chunk, static_cast<size_t>(n));
    size_t newline;
    while ((newline = buffer_.find('\n')) != std::string::npos) {
      events_.push_back(buffer_.substr(0, newline));
      buffer_.erase(0, newline + 1);
    }
  }
}

void WorkerProcess::signal(int sig) const { ::kill(pid_, sig); }

std::optional<int> WorkerProcess::wait(std::chrono::milliseconds timeout) {
  if (reaped_) return std::nullopt;
  pollfd pfd{pidfd_.get(), POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
  int status = 0;
  if (::waitpid(pid_, &status, 0) != pid_) return std::nullopt;
  reaped_ = true;
  return status;
}

std::string WorkerProcess::log() const {
  std::ifstream in(logPath_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool WorkerProcess::awaitLog(const std::string& text, std::chrono::milliseconds timeout) const {
  // Log lines carry no event to block on; re-read the file until the line is there.
  auto deadline = Clock::now() + timeout;
  while (log().find(text) == std::string::npos) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int WorkerProcess::openFds() const {
  int count = 0;
  std::error_code ec;
  for ([[maybe_unused]] const auto& entry :
       std::filesystem::directory_iterator("/proc/" + std::to_string(pid_) + "/fd", ec)) {
    ++count;
  }
  return count;
}

int WorkerProcess::threads() const {
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
  }
  return -1;
}

CommandResult runCommand(const std::vector<std::string>& argv) {
  // A safety net: a command that hangs fails its test after a minute instead of hanging it.
  std::string command = "timeout -k 5 60 ";
  for (const auto& arg : argv) {
    // Single-quote every argument for the shell popen runs.
    std::string quoted = "'";
    for (char c : arg) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    command += quoted + "' ";
  }
  command += "2>&1";
  CommandResult result;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return result;
  char chunk[4096];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), pipe)) > 0) result.output.append(chunk, n);
  int status = ::pclose(pipe);
  result.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

std::optional<google::protobuf::Struct> parseJsonObject(const std::string& text) {
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(text, &object).ok()) return std::nullopt;
  return object;
}

std::vector<std::string> nodeArgs(const FakeNode& node) {
  return {"--kubelet-dir",
          node.kubeletDir(),
          "--host-root",
          node.root(),
          "--run-dir",
          node.runDir(),
          "--register-backoff",
          "10ms",
          "--register-backoff-max",
          "200ms",
          "--heartbeat-interval",
          "100ms",
          "--log-level",
          "debug"};
}

long rollupKb(pid_t pid, const std::string& field) {
  std::ifstream rollup("/proc/" + std::to_string(pid) + "/smaps_rollup");
  std::string key;
  long value = 0;
  while (rollup >> key) {
    if (key == field + ":") {
      rollup >> value;
      return value;
    }
    rollup.ignore(1 << 10, '\n');
  }
  return -1;
}

}  // namespace mvf::testing
