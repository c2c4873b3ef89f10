#pragma once

#include <google/protobuf/struct.pb.h>
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "tests/support/fake_node.h"

namespace mvf::testing {

// A worker binary run as a child process, the way the supervisor runs it: stderr goes to
// a log file, and worker events arrive on a notify pipe (fd 3, --notify-fd 3), which is
// what tests await instead of sleeping.
class WorkerProcess {
 public:
  WorkerProcess(const std::string& binary, const std::vector<std::string>& args,
                const std::string& logPath, bool notify = true);
  ~WorkerProcess();  // SIGKILL and reap, if it still runs
  WorkerProcess(const WorkerProcess&) = delete;
  WorkerProcess& operator=(const WorkerProcess&) = delete;

  pid_t pid() const { return pid_; }

  // Reads events until one named `event` ("ready", "registered", …) arrives. False on
  // timeout or when the pipe closed first.
  bool awaitEvent(const std::string& event, std::chrono::milliseconds timeout);
  // The line of the event the last successful awaitEvent() found.
  const std::string& lastEvent() const { return lastEvent_; }
  // The read end of the notify pipe, for tests that play a supervisor that stopped
  // reading (or died: closeEvents()).
  int eventsFd() const { return events_fd_.get(); }
  void closeEvents() { events_fd_.reset(); }

  void signal(int sig) const;
  // The wait status once it exited, or nullopt if it still ran after `timeout`.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  std::string log() const;
  // Waits until the log contains `text`; false after `timeout`.
  bool awaitLog(const std::string& text, std::chrono::milliseconds timeout) const;
  int openFds() const;
  int threads() const;

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  base::UniqueFd pidfd_;
  base::UniqueFd events_fd_;
  std::string logPath_;
  std::string buffer_;
  std::vector<std::string> events_;
  std::string lastEvent_;
};

// A JSON object as protobuf parses it (google.protobuf.Struct), or nullopt if `text` is
// not one. For checking what the product prints without a JSON library of the tests' own.
std::optional<google::protobuf::Struct> parseJsonObject(const std::string& text);

// Runs a command to completion (killed after 60 s, exit 124): its exit status and
// everything it printed (stdout and stderr together).
struct CommandResult {
  int exitCode = -1;
  std::string output;
};
CommandResult runCommand(const std::vector<std::string>& argv);

// A field of a process's /proc/<pid>/smaps_rollup ("Pss"; "Pss_Anon": its heap, stacks
// and relocated library data), in kB; -1 if the process or the field is not there.
long rollupKb(pid_t pid, const std::string& field);

// The common flags that point a worker at a fake node, with fast timers.
std::vector<std::string> nodeArgs(const FakeNode& node);

}  // namespace mvf::testing
