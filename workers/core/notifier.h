#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "proto/supervisor.pb.h"

namespace mvf::core {

// Writes worker events (mvf.supervisor.v1.WorkerEvent) to the --notify-fd pipe, one JSON
// object per line. Writes never block: a supervisor that stopped reading costs us the
// event, never a stalled worker. Without a notify fd every call is a no-op.
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
  // A `devices` event: the advertised list changed.
  void devices(uint32_t total, uint32_t healthy);

 private:
  void write(const mvf::supervisor::v1::WorkerEvent& event);

  base::UniqueFd fd_;
  std::string worker_;
  bool broken_ = false;
};

}  // namespace mvf::core
