#include "supervisor/event_pipe.h"

#include <unistd.h>

#include <cerrno>

#include "base/logging.h"
#include "base/quote.h"
#include "base/worker_event.h"

namespace mvf::supervisor {
namespace {

// Longer than any event a worker writes (they fit in PIPE_BUF, 4 KiB); junk beyond it
// is dropped instead of kept.
constexpr size_t kMaxPending = 64 * 1024;

}  // namespace

EventPipe::EventPipe(base::UniqueFd readEnd, std::string worker)
    : fd_(std::move(readEnd)), worker_(std::move(worker)) {}

std::vector<v1::WorkerEvent> EventPipe::read() {
  char chunk[4096];
  while (!closed_) {
    ssize_t n = ::read(fd_.get(), chunk, sizeof(chunk));
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) break;
    closed_ = true;  // EOF (or an error that is as good as one)
  }
  std::vector<v1::WorkerEvent> events;
  size_t start = 0;
  for (size_t newline; (newline = buffer_.find('\n', start)) != std::string::npos;
       start = newline + 1) {
    std::string_view line(buffer_.data() + start, newline - start);
    if (auto event = base::parseEventLine(line)) {
      events.push_back(std::move(*event));
    } else {
      base::logger("supervisor")
          ->warn("{}: ignoring a notify line that is not a worker event: {}", worker_,
                 base::quote(line, 200));
    }
  }
  buffer_.erase(0, start);
  if (buffer_.size() > kMaxPending) {
    base::logger("supervisor")
        ->warn("{}: dropping {} bytes of notify output with no newline", worker_, buffer_.size());
    buffer_.clear();
  }
  return events;
}

}  // namespace mvf::supervisor
