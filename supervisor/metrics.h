#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "proto/supervisor.pb.h"

namespace prometheus {
class Exposer;
}

namespace mvf::supervisor {

// Adds `more` to `into`: counters and per-code counts summed, histograms summed bucket
// by bucket (a histogram with other bounds replaces the one held). How a worker's runs add
// up: each run's counts start at 0 in the worker, and the supervisor keeps the sum.
void addMetrics(v1::WorkerMetrics& into, const v1::WorkerMetrics& more);

// The bounded reason of an exit, a label value: "clean" (exit 0), "config_error" (78),
// "error" (another code), "killed" (the supervisor killed it: `reason` is set), "signal".
std::string_view exitReason(const v1::ExitInfo& exit);

// "9470", "127.0.0.1:9470", "node-1:9470" or "+9470" (every IPv4 and IPv6 address) — what
// civetweb's listening_ports takes as Debian builds it — or "off": "" when `value` is one,
// else why not. The --metrics-address option's check.
std::string checkMetricsAddress(std::string_view value);

// An address as a URL shows it: "9470" → "0.0.0.0:9470", "+9470" → "[::]:9470".
std::string displayAddress(std::string_view address);

// The Prometheus metric families (README, "Metrics") of a status snapshot taken at
// `nowUnixMs`: build info; per worker its state, up, restarts, crash loop, exits by
// reason and the last one, uptime; per resource its devices (while its worker runs) and
// the counters its worker's runs sent. Names follow the Prometheus conventions: an
// `mvf_` prefix, `_total` counters, seconds; no label takes a device ID.
std::vector<prometheus::MetricFamily> metricFamilies(const v1::SupervisorStatus& status,
                                                     int64_t nowUnixMs);

// The supervisor's Prometheus endpoint: prometheus-cpp's pull exposer (civetweb) serving
// the families of the last published snapshot on /metrics. A scrape reads that snapshot
// and never waits for the supervisor's loop or a worker. Thread-safe: publish() on the
// loop, Collect() on civetweb's threads.
class MetricsEndpoint final : public prometheus::Collectable,
                              public std::enable_shared_from_this<MetricsEndpoint> {
 public:
  // `requestTimeout`: how long a connection may stay idle before civetweb drops it.
  MetricsEndpoint(std::string address, std::chrono::milliseconds requestTimeout);
  ~MetricsEndpoint() override;

  // Starts serving on the address; an Error (the port taken, an address civetweb refuses)
  // leaves it not serving, and start() may be called again later.
  base::Status start();
  bool serving() const { return exposer_ != nullptr; }
  // As a URL shows it (displayAddress()).
  std::string address() const { return displayAddress(address_); }

  void publish(const v1::SupervisorStatus& status);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const std::string address_;
  const std::chrono::milliseconds requestTimeout_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  mutable std::mutex mu_;
  std::shared_ptr<const v1::SupervisorStatus> status_;
};

}  // namespace mvf::supervisor
