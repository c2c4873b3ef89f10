#pragma once

#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "proto/supervisor.pb.h"

namespace mvf::core {

using Kind = mvf::supervisor::v1::WorkerEvent::Kind;

// Writes worker events (mvf.supervisor.v1.WorkerEvent) to the --notify-fd pipe, one JSON
// object per line (base::eventLine). Writes never block: a supervisor that stopped
// reading costs us the event, never a stalled worker. Without a notify fd every call is
// a no-op.
class Notifier {
 public:
  Notifier() = default;
  Notifier(int fd, std::string worker);

  // An Error if fd is not an open descriptor.
  static base::Status check(int fd);

  // The `ready` event, with the digest of the settings the worker runs with (the
  // supervisor compares it on SIGHUP).
  void ready(const std::string& settingsDigest);
  // An event of `kind`, with `detail` when it is not empty.
  void send(mvf::supervisor::v1::WorkerEvent::Kind kind, const std::string& detail = "");
  // A `devices` event: the advertised list changed. `usableUnits`: the IDs of the units
  // usable now, sorted; the event carries the first kMaxUnitsInEvent, each cut to
  // kMaxUnitIdInEvent bytes, and their number.
  void devices(uint32_t total, uint32_t healthy, const std::string& mode,
               const std::vector<std::string>& usableUnits);
  // A `metrics` event with the worker's counters.
  void metrics(const mvf::supervisor::v1::WorkerMetrics& metrics);

  // Bounds that keep the worst event (every byte of every ID a control character, which
  // JSON writes as \u00XX) within PIPE_BUF.
  static constexpr size_t kMaxUnitsInEvent = 16;
  static constexpr size_t kMaxUnitIdInEvent = 32;

 private:
  void write(const mvf::supervisor::v1::WorkerEvent& event);
  void writeLine(const std::string& line, Kind kind);

  base::UniqueFd fd_;
  std::string worker_;
  bool broken_ = false;
};

}  // namespace mvf::core
