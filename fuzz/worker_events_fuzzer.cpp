// The supervisor's reading of a worker's notify pipe: whatever bytes a worker (or a bug
// in one) writes, framed into lines and parsed as worker events; and the same bytes as a
// worker's --check-config=json answer. The input goes through a real pipe in two writes,
// split where its first byte says, so a line can straddle two reads.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>

#include "base/worker_event.h"
#include "fuzz/fuzz_input.h"
#include "supervisor/event_pipe.h"

namespace mvf::fuzz {
namespace {

void readEvents(std::string_view bytes) {
  // An event that parses is written by eventLine() as a line that parses back to it.
  if (auto event = base::parseEventLine(bytes)) {
    std::string line = base::eventLine(*event);
    auto again = base::parseEventLine(std::string_view(line).substr(0, line.size() - 1));
    check(again.has_value(), "eventLine() writes a line that parses: " + line);
    check(base::eventLine(*again) == line, "eventLine() round-trips: " + line);
  }
  // A worker's --check-config=json answer, which the supervisor reads from its stdout: one
  // that parses is written by configCheckJson() as JSON that parses back to it.
  if (auto answer = base::parseConfigCheck(bytes)) {
    std::string json = base::configCheckJson(*answer);
    auto again = base::parseConfigCheck(json);
    check(again.has_value(), "configCheckJson() writes JSON that parses: " + json);
    check(base::configCheckJson(*again) == json, "configCheckJson() round-trips: " + json);
  }
  if (bytes.empty()) return;
  size_t split = std::min<size_t>(static_cast<unsigned char>(bytes[0]), bytes.size());
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) return;
  base::UniqueFd writeEnd(fds[1]);
  supervisor::EventPipe pipe(base::UniqueFd(fds[0]), "fuzz");
  size_t events = 0;
  size_t newlines = 0;
  for (auto chunk : {bytes.substr(0, split), bytes.substr(split)}) {
    // libFuzzer's inputs stay far below a pipe's 64 KiB, so a write never blocks.
    if (::write(writeEnd.get(), chunk.data(), chunk.size()) != static_cast<ssize_t>(chunk.size())) {
      return;
    }
    events += pipe.read().size();
    newlines += static_cast<size_t>(std::count(chunk.begin(), chunk.end(), '\n'));
  }
  check(events <= newlines, "at most one event per line");
  writeEnd.reset();
  pipe.read();
  check(pipe.closed(), "a closed write end is seen");
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { readEvents(text(data, size)); }

}  // namespace mvf::fuzz
