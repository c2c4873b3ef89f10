#include "workers/core/notifier.h"

#include <fcntl.h>
#include <limits.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <type_traits>

#include "base/logging.h"

namespace mvf::core {
namespace {

using Json = nlohmann::ordered_json;

// A repeated field as an array; proto3's JSON mapping writes 64-bit integers as strings.
template <class Values>
Json array(const Values& values) {
  Json out = Json::array();
  for (const auto& value : values) {
    if constexpr (std::is_same_v<std::decay_t<decltype(value)>, uint64_t>) {
      out.push_back(std::to_string(value));
    } else {
      out.push_back(value);
    }
  }
  return out;
}

Json histogramJson(const mvf::supervisor::v1::Histogram& histogram) {
  Json out;
  out["upperBounds"] = array(histogram.upper_bounds());
  out["cumulativeCounts"] = array(histogram.cumulative_counts());
  out["count"] = std::to_string(histogram.count());
  out["sum"] = histogram.sum();
  return out;
}

Json metricsJson(const mvf::supervisor::v1::WorkerMetrics& metrics) {
  Json out;
  out["registrations"] = std::to_string(metrics.registrations());
  out["kubeletRestarts"] = std::to_string(metrics.kubelet_restarts());
  out["listAndWatchMessages"] = std::to_string(metrics.list_and_watch_messages());
  Json calls = Json::object();
  for (const auto& [code, count] : metrics.allocate_calls()) calls[code] = std::to_string(count);
  out["allocateCalls"] = std::move(calls);
  if (metrics.has_allocate_seconds())
    out["allocateSeconds"] = histogramJson(metrics.allocate_seconds());
  if (metrics.has_scan_seconds()) out["scanSeconds"] = histogramJson(metrics.scan_seconds());
  out["cdiSpecWrites"] = std::to_string(metrics.cdi_spec_writes());
  out["cdiSpecWriteErrors"] = std::to_string(metrics.cdi_spec_write_errors());
  return out;
}

}  // namespace

const char* kindName(Kind kind) {
  switch (kind) {
    case Kind::WorkerEvent_Kind_unspecified:
      return "unspecified";
    case Kind::WorkerEvent_Kind_ready:
      return "ready";
    case Kind::WorkerEvent_Kind_registered:
      return "registered";
    case Kind::WorkerEvent_Kind_unregistered:
      return "unregistered";
    case Kind::WorkerEvent_Kind_devices:
      return "devices";
    case Kind::WorkerEvent_Kind_heartbeat:
      return "heartbeat";
    case Kind::WorkerEvent_Kind_config_error:
      return "config_error";
    case Kind::WorkerEvent_Kind_metrics:
      return "metrics";
    default:
      return "unknown";
  }
}

std::string eventLine(const mvf::supervisor::v1::WorkerEvent& event) {
  Json out;
  out["event"] = kindName(event.event());
  out["worker"] = event.worker();
  if (event.has_total()) out["total"] = event.total();
  if (event.has_healthy()) out["healthy"] = event.healthy();
  if (event.has_detail()) out["detail"] = event.detail();
  if (event.has_settings_digest()) out["settingsDigest"] = event.settings_digest();
  if (event.has_mode()) out["mode"] = event.mode();
  out["usableUnits"] = array(event.usable_units());
  if (event.has_usable_units_total()) out["usableUnitsTotal"] = event.usable_units_total();
  if (event.has_counts()) out["counts"] = metricsJson(event.counts());
  // Bytes that are not UTF-8 (a unit ID is outside input) become U+FFFD, as JSON needs.
  return out.dump(-1, ' ', false, Json::error_handler_t::replace) + '\n';
}

Notifier::Notifier(int fd, std::string worker) : fd_(fd), worker_(std::move(worker)) {
  int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    base::logger("notify")->warn("fcntl(notify fd {}, O_NONBLOCK): {}", fd, std::strerror(errno));
  }
  ::fcntl(fd, F_SETFD, FD_CLOEXEC);
}

base::Status Notifier::check(int fd) {
  if (fd >= 0 && ::fcntl(fd, F_GETFD) < 0) {
    return base::Error{"notify fd " + std::to_string(fd) + " is not open: " + std::strerror(errno),
                       errno};
  }
  return base::ok();
}

void Notifier::ready(const std::string& settingsDigest) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::ready);
  event.set_settings_digest(settingsDigest);
  write(event);
}

void Notifier::send(mvf::supervisor::v1::WorkerEvent::Kind kind, const std::string& detail) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(kind);
  if (!detail.empty()) event.set_detail(detail);
  write(event);
}

void Notifier::devices(uint32_t total, uint32_t healthy, const std::string& mode,
                       const std::vector<std::string>& usableUnits) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::devices);
  event.set_total(total);
  event.set_healthy(healthy);
  event.set_mode(mode);
  for (size_t i = 0; i < usableUnits.size() && i < kMaxUnitsInEvent; ++i) {
    event.add_usable_units(usableUnits[i].substr(0, kMaxUnitIdInEvent));
  }
  event.set_usable_units_total(static_cast<uint32_t>(usableUnits.size()));
  write(event);
}

void Notifier::metrics(const mvf::supervisor::v1::WorkerMetrics& metrics) {
  mvf::supervisor::v1::WorkerEvent event;
  event.set_event(mvf::supervisor::v1::WorkerEvent::metrics);
  *event.mutable_counts() = metrics;
  write(event);
}

void Notifier::write(const mvf::supervisor::v1::WorkerEvent& event) {
  if (!fd_ || broken_) return;
  mvf::supervisor::v1::WorkerEvent named = event;
  named.set_worker(worker_);
  writeLine(eventLine(named), event.event());
}

void Notifier::writeLine(const std::string& line, Kind kind) {
  // A write of at most PIPE_BUF bytes to a pipe is atomic (pipe(7)): all of it or, with
  // O_NONBLOCK and no room, nothing. Every event is bounded below it (16 unit IDs of 32
  // bytes, 17 status codes, two histograms of 12 buckets: tests/unit/metrics_test.cpp
  // checks the worst case); one that is not would be split by a partial write, so it is
  // dropped.
  if (line.size() > PIPE_BUF) {
    base::logger("notify")->error("a {} event of {} bytes exceeds PIPE_BUF; dropped",
                                  kindName(kind), line.size());
    return;
  }
  ssize_t written = ::write(fd_.get(), line.data(), line.size());
  if (written >= 0) return;
  if (errno == EAGAIN) {
    base::logger("notify")->debug("notify pipe full; dropped a {} event", kindName(kind));
  } else {
    broken_ = true;
    base::logger("notify")->warn("write(notify fd {}): {}; no more events will be sent", fd_.get(),
                                 std::strerror(errno));
  }
}

}  // namespace mvf::core
