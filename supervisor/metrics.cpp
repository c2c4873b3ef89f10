#include "supervisor/metrics.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <exception>
#include <limits>

#include "base/format.h"
#include "base/unique_fd.h"
#include "base/version.h"

namespace mvf::supervisor {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

void addHistogram(v1::Histogram& into, const v1::Histogram& more) {
  if (more.count() == 0) return;
  bool sameBounds = into.upper_bounds_size() == more.upper_bounds_size();
  for (int i = 0; sameBounds && i < into.upper_bounds_size(); ++i) {
    sameBounds = into.upper_bounds(i) == more.upper_bounds(i);
  }
  if (!sameBounds) {
    into = more;
    return;
  }
  for (int i = 0; i < into.cumulative_counts_size() && i < more.cumulative_counts_size(); ++i) {
    into.set_cumulative_counts(i, into.cumulative_counts(i) + more.cumulative_counts(i));
  }
  into.set_count(into.count() + more.count());
  into.set_sum(into.sum() + more.sum());
}

MetricFamily family(std::string name, std::string help, MetricType type) {
  return {.name = std::move(name), .help = std::move(help), .type = type, .metric = {}};
}

ClientMetric sample(double value, std::vector<ClientMetric::Label> labels, MetricType type) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return metric;
}

ClientMetric histogram(const v1::Histogram& from, std::vector<ClientMetric::Label> labels) {
  ClientMetric metric;
  metric.label = std::move(labels);
  metric.histogram.sample_count = from.count();
  metric.histogram.sample_sum = from.sum();
  for (int i = 0; i < from.upper_bounds_size() && i < from.cumulative_counts_size(); ++i) {
    metric.histogram.bucket.push_back(
        {.cumulative_count = from.cumulative_counts(i), .upper_bound = from.upper_bounds(i)});
  }
  metric.histogram.bucket.push_back(
      {.cumulative_count = from.count(), .upper_bound = std::numeric_limits<double>::infinity()});
  return metric;
}

constexpr std::string_view kExitReasons[] = {"clean", "error", "config_error", "signal", "killed"};

// The states a listed worker can be in, as the label values of mvf_worker_state.
constexpr std::pair<v1::WorkerStatus::State, const char*> kStates[] = {
    {v1::WorkerStatus::starting, "starting"},
    {v1::WorkerStatus::running, "running"},
    {v1::WorkerStatus::backoff, "backoff"},
    {v1::WorkerStatus::stopping, "stopping"},
    {v1::WorkerStatus::failed, "failed"}};

}  // namespace

void addMetrics(v1::WorkerMetrics& into, const v1::WorkerMetrics& more) {
  into.set_registrations(into.registrations() + more.registrations());
  into.set_kubelet_restarts(into.kubelet_restarts() + more.kubelet_restarts());
  into.set_list_and_watch_messages(into.list_and_watch_messages() + more.list_and_watch_messages());
  for (const auto& [code, count] : more.allocate_calls()) {
    (*into.mutable_allocate_calls())[code] += count;
  }
  addHistogram(*into.mutable_allocate_seconds(), more.allocate_seconds());
  addHistogram(*into.mutable_scan_seconds(), more.scan_seconds());
  into.set_cdi_spec_writes(into.cdi_spec_writes() + more.cdi_spec_writes());
  into.set_cdi_spec_write_errors(into.cdi_spec_write_errors() + more.cdi_spec_write_errors());
}

std::string_view exitReason(const v1::ExitInfo& exit) {
  if (!exit.reason().empty()) return "killed";
  if (exit.signaled()) return "signal";
  if (exit.exit_code() == 0) return "clean";
  return exit.exit_code() == 78 ? "config_error" : "error";
}

std::string checkMetricsAddress(std::string_view value) {
  if (value == "off") return "";
  std::string_view port = value;
  if (port.starts_with('+')) port.remove_prefix(1);  // civetweb: every IPv4 and IPv6 address
  if (auto colon = value.rfind(':'); colon != std::string_view::npos) {
    std::string_view host = value.substr(0, colon);
    port = value.substr(colon + 1);
    // civetweb as Debian 12 builds it listens on "+PORT" for IPv6, never on "[::]:PORT".
    if (host.empty() || host.find_first_of(":[]+") != std::string_view::npos) {
      return "expected off, PORT, IPV4-OR-NAME:PORT, or +PORT for every IPv4 and IPv6 address";
    }
  }
  int number = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
  if (ec != std::errc() || end != port.data() + port.size() || number < 1 || number > 65535) {
    return "expected off, PORT, HOST:PORT or +PORT with a port from 1 to 65535";
  }
  return "";
}

std::vector<MetricFamily> metricFamilies(const v1::SupervisorStatus& status, int64_t nowUnixMs) {
  using Labels = std::vector<ClientMetric::Label>;
  auto gauge = MetricType::Gauge;
  auto counter = MetricType::Counter;

  MetricFamily build = family("mvf_build_info", "mvf-device-plugin's version; always 1", gauge);
  build.metric.push_back(sample(1, {{"version", status.version()}}, gauge));

  MetricFamily up = family("mvf_worker_up", "1 while the worker runs and is ready, else 0", gauge);
  MetricFamily state = family("mvf_worker_state",
                              "1 for the state the worker is in (starting, running, backoff, "
                              "stopping, failed), 0 for the others",
                              gauge);
  MetricFamily restarts =
      family("mvf_worker_restarts_total", "restarts of the worker by the supervisor", counter);
  MetricFamily crashLoop = family("mvf_worker_crash_looping",
                                  "1 while the worker fails again and again (README, \"The "
                                  "supervisor\")",
                                  gauge);
  MetricFamily exits = family("mvf_worker_exits_total",
                              "exits of the worker, by reason: clean, error, config_error, "
                              "signal, killed (by the supervisor)",
                              counter);
  MetricFamily lastExit =
      family("mvf_worker_last_exit_timestamp_seconds",
             "when the worker last exited (Unix time), labelled with that exit's reason", gauge);
  MetricFamily uptime = family("mvf_worker_uptime_seconds",
                               "how long the worker's process has run; 0 while none runs", gauge);
  MetricFamily devices =
      family("mvf_devices", "device IDs the worker advertises to the kubelet", gauge);
  MetricFamily healthy =
      family("mvf_devices_healthy", "advertised device IDs that are Healthy", gauge);
  MetricFamily registrations =
      family("mvf_registrations_total", "Register calls the kubelet accepted", counter);
  MetricFamily kubeletRestarts = family("mvf_kubelet_restarts_total",
                                        "kubelet restarts the worker saw (kubelet.sock re-created "
                                        "after a registration)",
                                        counter);
  MetricFamily listAndWatch =
      family("mvf_list_and_watch_messages_total",
             "ListAndWatch responses sent, on every stream (the kubelet's and others')", counter);
  MetricFamily allocates =
      family("mvf_allocate_requests_total", "Allocate calls, by gRPC status code", counter);
  MetricFamily allocateSeconds =
      family("mvf_allocate_duration_seconds",
             "time the worker took to answer Allocate, request to response", MetricType::Histogram);
  MetricFamily scanSeconds =
      family("mvf_scan_duration_seconds", "time one scan of the host took", MetricType::Histogram);
  MetricFamily cdiWrites =
      family("mvf_cdi_spec_writes_total", "CDI spec files written, by result: ok, error", counter);

  for (const auto& worker : status.workers()) {
    Labels named = {{"worker", worker.name()}};
    bool running = worker.state() == v1::WorkerStatus::running && worker.pid() > 0;
    up.metric.push_back(sample(running ? 1 : 0, named, gauge));
    for (const auto& [value, label] : kStates) {
      state.metric.push_back(sample(worker.state() == value ? 1 : 0,
                                    {{"state", label}, {"worker", worker.name()}}, gauge));
    }
    restarts.metric.push_back(sample(worker.restarts(), named, counter));
    crashLoop.metric.push_back(sample(worker.crash_looping() ? 1 : 0, named, gauge));
    for (auto reason : kExitReasons) {
      auto it = worker.exits().find(std::string(reason));
      exits.metric.push_back(sample(it == worker.exits().end() ? 0 : it->second,
                                    {{"reason", std::string(reason)}, {"worker", worker.name()}},
                                    counter));
    }
    if (worker.has_last_exit() && worker.last_exit().at_unix_ms() > 0) {
      lastExit.metric.push_back(sample(
          static_cast<double>(worker.last_exit().at_unix_ms()) / 1000.0,
          {{"reason", std::string(exitReason(worker.last_exit()))}, {"worker", worker.name()}},
          gauge));
    }
    double ranFor = worker.pid() > 0 && worker.started_at_unix_ms() > 0
                        ? static_cast<double>(nowUnixMs - worker.started_at_unix_ms()) / 1000.0
                        : 0.0;
    uptime.metric.push_back(sample(std::max(ranFor, 0.0), named, gauge));

    Labels resource = {{"resource", worker.resource()}};
    if (running) {  // a list the kubelet may no longer hold is not shown
      devices.metric.push_back(sample(worker.devices_total(), resource, gauge));
      healthy.metric.push_back(sample(worker.devices_healthy(), resource, gauge));
    }
    const auto& m = worker.metrics();
    registrations.metric.push_back(
        sample(static_cast<double>(m.registrations()), resource, counter));
    kubeletRestarts.metric.push_back(
        sample(static_cast<double>(m.kubelet_restarts()), resource, counter));
    listAndWatch.metric.push_back(
        sample(static_cast<double>(m.list_and_watch_messages()), resource, counter));
    // Sorted by code, so a scrape reads the same way every time.
    std::map<std::string, uint64_t> calls(m.allocate_calls().begin(), m.allocate_calls().end());
    for (const auto& [code, count] : calls) {
      allocates.metric.push_back(sample(
          static_cast<double>(count), {{"code", code}, {"resource", worker.resource()}}, counter));
    }
    allocateSeconds.metric.push_back(histogram(m.allocate_seconds(), resource));
    scanSeconds.metric.push_back(histogram(m.scan_seconds(), resource));
    cdiWrites.metric.push_back(sample(static_cast<double>(m.cdi_spec_writes()),
                                      {{"resource", worker.resource()}, {"result", "ok"}},
                                      counter));
    cdiWrites.metric.push_back(sample(static_cast<double>(m.cdi_spec_write_errors()),
                                      {{"resource", worker.resource()}, {"result", "error"}},
                                      counter));
  }
  return {build,        up,        state,           restarts,    crashLoop,     exits,
          lastExit,     uptime,    devices,         healthy,     registrations, kubeletRestarts,
          listAndWatch, allocates, allocateSeconds, scanSeconds, cdiWrites};
}

MetricsEndpoint::MetricsEndpoint(std::string address, std::chrono::milliseconds requestTimeout)
    : address_(std::move(address)), requestTimeout_(requestTimeout) {}

MetricsEndpoint::~MetricsEndpoint() = default;

std::string displayAddress(std::string_view address) {
  if (address.starts_with('+')) return fmt::format("[::]:{}", address.substr(1));
  if (address.find(':') == std::string_view::npos) return fmt::format("0.0.0.0:{}", address);
  return std::string(address);
}

namespace {

// Why civetweb could not listen on an IPv4 `address` ("Address already in use"), found by
// binding it ourselves: civetweb's exception says only "Possible problem binding to port".
std::string whyNotListening(const std::string& address) {
  std::string shown = displayAddress(address);
  auto colon = shown.rfind(':');
  std::string host = shown.substr(0, colon);
  sockaddr_in where{};
  where.sin_family = AF_INET;
  where.sin_port = htons(static_cast<uint16_t>(std::stoi(shown.substr(colon + 1))));
  if (host.front() == '[' || ::inet_pton(AF_INET, host.c_str(), &where.sin_addr) != 1) {
    return "";  // IPv6 or a name: no simple check of ours
  }
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  int on = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&where), sizeof(where)) != 0) {
    return std::strerror(errno);
  }
  return "";
}

}  // namespace

base::Status MetricsEndpoint::start() {
  if (exposer_) return base::ok();
  try {
    // civetweb's threads each hold one connection until it ends or is idle for the
    // request timeout: four, and a short timeout, so idle connections cannot starve a
    // scrape for long.
    exposer_ = std::make_unique<prometheus::Exposer>(
        std::vector<std::string>{"listening_ports", address_, "num_threads", "4",
                                 "request_timeout_ms", std::to_string(requestTimeout_.count())});
  } catch (const std::exception& e) {  // CivetException: civetweb could not listen
    std::string why = whyNotListening(address_);
    return base::Error{fmt::format("cannot serve metrics on {}: {}", displayAddress(address_),
                                   why.empty() ? e.what() : why)};
  }
  exposer_->RegisterCollectable(weak_from_this());
  return base::ok();
}

void MetricsEndpoint::publish(const v1::SupervisorStatus& status) {
  auto snapshot = std::make_shared<const v1::SupervisorStatus>(status);
  std::lock_guard lock(mu_);
  status_ = std::move(snapshot);
}

std::vector<MetricFamily> MetricsEndpoint::Collect() const {
  // A scrape runs on a civetweb thread, which takes the lowest CPU priority the first
  // time: on a busy node, serving metrics never delays a worker's Allocate.
  static thread_local bool lowered =
      ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19) == 0;
  (void)lowered;
  std::shared_ptr<const v1::SupervisorStatus> status;
  {
    std::lock_guard lock(mu_);
    status = status_;
  }
  if (!status) return {};
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  return metricFamilies(*status, now);
}

}  // namespace mvf::supervisor
