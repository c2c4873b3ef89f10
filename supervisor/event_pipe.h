#pragma once

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "proto/supervisor.pb.h"

namespace mvf::supervisor {

// The supervisor's end of a worker's --notify-fd pipe. read() takes what the pipe holds
// without blocking and returns the complete events in it (base::parseEventLine), in
// order; a partial line waits for its rest. A line that is no event is logged and
// skipped, and more than 64 KiB with no newline is dropped, so a worker gone wrong can
// neither stall nor bloat the supervisor.
class EventPipe {
 public:
  EventPipe(base::UniqueFd readEnd, std::string worker);

  int fd() const { return fd_.get(); }
  std::vector<v1::WorkerEvent> read();
  // The worker closed its end (it exited, or closed the fd).
  bool closed() const { return closed_; }

 private:
  base::UniqueFd fd_;
  std::string worker_;  // for log lines
  std::string buffer_;
  bool closed_ = false;
};

}  // namespace mvf::supervisor
