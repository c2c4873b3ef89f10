#include "workers/core/worker_metrics.h"

#include <string>

#include "base/grpc_code.h"

namespace mvf::core {
using Metrics = mvf::supervisor::v1::WorkerMetrics;

void observe(mvf::supervisor::v1::Histogram& histogram, double observation) {
  if (histogram.upper_bounds_size() == 0) {
    for (double bound : WorkerMetrics::kBuckets) {
      histogram.add_upper_bounds(bound);
      histogram.add_cumulative_counts(0);
    }
  }
  for (int i = 0; i < histogram.upper_bounds_size(); ++i) {
    if (observation <= histogram.upper_bounds(i)) {
      histogram.set_cumulative_counts(i, histogram.cumulative_counts(i) + 1);
    }
  }
  histogram.set_count(histogram.count() + 1);
  histogram.set_sum(histogram.sum() + observation);
}

WorkerMetrics::WorkerMetrics(std::function<void()> onChange) : onChange_(std::move(onChange)) {}

void WorkerMetrics::change(const std::function<void(Metrics&)>& update) {
  bool first;
  {
    std::lock_guard lock(mu_);
    update(counts_);
    first = !dirty_;
    dirty_ = true;
  }
  if (first && onChange_) onChange_();
}

void WorkerMetrics::registered() {
  change([](Metrics& m) { m.set_registrations(m.registrations() + 1); });
}

void WorkerMetrics::kubeletRestarted() {
  change([](Metrics& m) { m.set_kubelet_restarts(m.kubelet_restarts() + 1); });
}

void WorkerMetrics::listAndWatchSent() {
  change([](Metrics& m) { m.set_list_and_watch_messages(m.list_and_watch_messages() + 1); });
}

void WorkerMetrics::allocated(grpc::StatusCode code, std::chrono::duration<double> took) {
  change([&](Metrics& m) {
    ++(*m.mutable_allocate_calls())[std::string(base::grpcCodeName(code))];
    observe(*m.mutable_allocate_seconds(), took.count());
  });
}

void WorkerMetrics::scanned(std::chrono::duration<double> took) {
  change([&](Metrics& m) { observe(*m.mutable_scan_seconds(), took.count()); });
}

void WorkerMetrics::cdiSpecWritten(bool ok) {
  change([&](Metrics& m) {
    if (ok) {
      m.set_cdi_spec_writes(m.cdi_spec_writes() + 1);
    } else {
      m.set_cdi_spec_write_errors(m.cdi_spec_write_errors() + 1);
    }
  });
}

Metrics WorkerMetrics::snapshot() {
  std::lock_guard lock(mu_);
  dirty_ = false;
  return counts_;
}

}  // namespace mvf::core
