#pragma once

#include <grpcpp/support/status_code_enum.h>

#include <chrono>
#include <functional>
#include <mutex>

#include "proto/supervisor.pb.h"

namespace mvf::core {

// What a worker counts for the supervisor's Prometheus endpoint (README, "Metrics"), as
// proto/supervisor.proto's WorkerMetrics. Updated from any thread (Allocate and the
// ListAndWatch streams run on gRPC's); the worker sends snapshot() in a `metrics` event.
class WorkerMetrics {
 public:
  // The upper bounds of both histograms, in seconds: from 100 µs (a fast Allocate) to
  // 1 s (a scan of a big sysfs tree). Observations above the last fall in +Inf only.
  static constexpr double kBuckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   1.0};

  // `onChange` is called on the first change after each snapshot(), on the thread that
  // made it and with no lock held: the worker posts a send to its loop then, so a burst
  // of changes becomes one event.
  explicit WorkerMetrics(std::function<void()> onChange = nullptr);

  void registered();
  void kubeletRestarted();
  void listAndWatchSent();
  void allocated(grpc::StatusCode code, std::chrono::duration<double> took);
  void scanned(std::chrono::duration<double> took);
  void cdiSpecWritten(bool ok);

  // Everything counted since the process started; the next change calls onChange again.
  mvf::supervisor::v1::WorkerMetrics snapshot();

 private:
  // Runs `update` on the counts under the lock, then onChange if it is the first since
  // the last snapshot.
  void change(const std::function<void(mvf::supervisor::v1::WorkerMetrics&)>& update);

  const std::function<void()> onChange_;
  std::mutex mu_;
  mvf::supervisor::v1::WorkerMetrics counts_;
  bool dirty_ = false;
};

// Adds `observation` (seconds) to `histogram`, whose bounds are kBuckets.
void observe(mvf::supervisor::v1::Histogram& histogram, double observation);

}  // namespace mvf::core
