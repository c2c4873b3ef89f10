// Metrics from the worker's counters to the supervisor's Prometheus families: what a
// worker counts and when it says so, that every event fits one atomic pipe write, how
// the supervisor adds a worker's runs up, and the families' names, types and labels.
#include "supervisor/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <limits.h>
#include <signal.h>

#include <regex>
#include <set>
#include <thread>

#include "base/event_loop.h"
#include "base/grpc_code.h"
#include "base/worker_event.h"
#include "catalog/catalog.h"
#include "proto/reflection.h"
#include "supervisor/worker_slot.h"
#include "tests/support/fake_launcher.h"
#include "tests/support/fake_timers.h"
#include "workers/core/notifier.h"
#include "workers/core/worker_metrics.h"

namespace mvf::supervisor {
namespace {

using namespace std::chrono_literals;

// The notify line of `event` parses back to `event`, with protobuf's own JSON parser
// and with the supervisor's.
void expectParsesBackTo(const v1::WorkerEvent& event) {
  std::string line = base::eventLine(event);
  ASSERT_FALSE(line.empty());
  EXPECT_EQ(line.back(), '\n');
  v1::WorkerEvent parsed;
  auto status = proto::jsonToMessage(line, &parsed);
  ASSERT_TRUE(status.ok()) << status.ToString() << ": " << line;
  EXPECT_TRUE(proto::equals(parsed, event)) << line << "\nparsed: " << proto::debugString(parsed)
                                            << "\nwanted: " << proto::debugString(event);
  auto ours = base::parseEventLine(std::string_view(line).substr(0, line.size() - 1));
  ASSERT_TRUE(ours.has_value()) << line;
  EXPECT_TRUE(proto::equals(*ours, event)) << line << "\nparsed: " << proto::debugString(*ours)
                                           << "\nwanted: " << proto::debugString(event);
}

using core::WorkerMetrics;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(WorkerMetricsTest, CountsAndSaysSoOncePerSnapshot) {
  int told = 0;
  WorkerMetrics metrics([&] { ++told; });
  metrics.registered();
  metrics.allocated(grpc::StatusCode::OK, 150us);
  metrics.allocated(grpc::StatusCode::FAILED_PRECONDITION, 2ms);
  EXPECT_EQ(told, 1) << "changes until the snapshot are one event";
  auto counts = metrics.snapshot();
  EXPECT_EQ(counts.registrations(), 1u);
  EXPECT_EQ(counts.allocate_calls().at("OK"), 1u);
  EXPECT_EQ(counts.allocate_calls().at("FAILED_PRECONDITION"), 1u);
  const auto& seconds = counts.allocate_seconds();
  ASSERT_EQ(seconds.upper_bounds_size(), static_cast<int>(std::size(WorkerMetrics::kBuckets)));
  EXPECT_EQ(seconds.count(), 2u);
  EXPECT_NEAR(seconds.sum(), 0.00215, 1e-9);
  EXPECT_EQ(seconds.cumulative_counts(0), 0u);  // le 0.0001
  EXPECT_EQ(seconds.cumulative_counts(1), 1u);  // le 0.00025
  EXPECT_EQ(seconds.cumulative_counts(4), 2u);  // le 0.0025
  metrics.scanned(5s);                          // above every bound: +Inf only
  metrics.cdiSpecWritten(false);
  EXPECT_EQ(told, 2);
  counts = metrics.snapshot();
  EXPECT_EQ(counts.scan_seconds().count(), 1u);
  EXPECT_EQ(counts.scan_seconds().cumulative_counts(11), 0u);
  EXPECT_EQ(counts.cdi_spec_write_errors(), 1u);
}

// Allocate counts on gRPC's threads; the worker's loop takes the snapshot for its
// `metrics` event when told (worker.cpp posts it from onChange). No change is left
// unsaid: once the threads are done and the loop has run what they posted, the loop's
// last snapshot holds every call. Meant for ThreadSanitizer too (scripts/sanitize.sh
// thread).
TEST(WorkerMetricsThreads, TheLoopsLastSnapshotHoldsEveryCallFromEveryThread) {
  base::EventLoop loop;
  std::unique_ptr<WorkerMetrics> metrics;
  uint64_t lastSeen = 0;  // the loop's last snapshot: OK Allocate calls
  metrics = std::make_unique<WorkerMetrics>(
      [&] { loop.post([&] { lastSeen = metrics->snapshot().allocate_calls().at("OK"); }); });
  constexpr int kThreads = 4;
  constexpr int kCalls = 500;
  std::thread callers([&] {
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kCalls; ++i) metrics->allocated(grpc::StatusCode::OK, 100us);
      });
    }
    for (auto& thread : threads) thread.join();
    loop.post([&] { loop.stop(); });  // after everything the callers posted
  });
  ASSERT_TRUE(loop.run());
  callers.join();
  EXPECT_EQ(lastSeen, static_cast<uint64_t>(kThreads * kCalls));
  EXPECT_EQ(metrics->snapshot().allocate_seconds().count(),
            static_cast<uint64_t>(kThreads * kCalls));
}

// Worst case: every status code, every counter and bucket at its largest.
TEST(WorkerMetricsTest, TheLargestEventFitsOneAtomicPipeWrite) {
  v1::WorkerEvent event;
  event.set_event(v1::WorkerEvent::metrics);
  event.set_worker(std::string(64, 'w'));
  auto* counts = event.mutable_counts();
  constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();
  counts->set_registrations(kMax);
  counts->set_kubelet_restarts(kMax);
  counts->set_list_and_watch_messages(kMax);
  counts->set_cdi_spec_writes(kMax);
  counts->set_cdi_spec_write_errors(kMax);
  for (int code = 0; code <= 16; ++code) {
    (*counts->mutable_allocate_calls())[std::string(base::grpcCodeName(code))] = kMax;
  }
  for (auto* histogram : {counts->mutable_allocate_seconds(), counts->mutable_scan_seconds()}) {
    core::observe(*histogram, 1.0 / 3.0);
    for (int i = 0; i < histogram->cumulative_counts_size(); ++i) {
      histogram->set_cumulative_counts(i, kMax);
    }
    histogram->set_count(kMax);
    histogram->set_sum(std::numeric_limits<double>::max());
  }
  EXPECT_LE(base::eventLine(event).size(), static_cast<size_t>(PIPE_BUF));
  expectParsesBackTo(event);

  v1::WorkerEvent devices;
  devices.set_event(v1::WorkerEvent::devices);
  devices.set_worker(std::string(64, 'w'));
  devices.set_total(UINT32_MAX);
  devices.set_healthy(UINT32_MAX);
  devices.set_mode("exclusive");
  for (size_t i = 0; i < core::Notifier::kMaxUnitsInEvent; ++i) {
    // \u0001 in JSON: six bytes for one.
    devices.add_usable_units(std::string(core::Notifier::kMaxUnitIdInEvent, '\x01'));
  }
  devices.set_usable_units_total(UINT32_MAX);
  EXPECT_LE(base::eventLine(devices).size(), static_cast<size_t>(PIPE_BUF));
  expectParsesBackTo(devices);
}

TEST(EventLineTest, EveryKindParsesBackWithProtobufsOwnParserAndOurs) {
  for (int kind = v1::WorkerEvent::Kind_MIN; kind <= v1::WorkerEvent::Kind_MAX; ++kind) {
    v1::WorkerEvent event;
    event.set_event(static_cast<v1::WorkerEvent::Kind>(kind));
    event.set_worker("udma");
    expectParsesBackTo(event);
  }
  v1::WorkerEvent ready;
  ready.set_event(v1::WorkerEvent::ready);
  ready.set_worker("vfio");
  ready.set_settings_digest("a1b2");
  ready.set_detail("waiting for the plugin dir");
  expectParsesBackTo(ready);
  v1::WorkerEvent metrics;
  metrics.set_event(v1::WorkerEvent::metrics);
  metrics.set_worker("usb");
  metrics.mutable_counts()->set_registrations(2);
  core::observe(*metrics.mutable_counts()->mutable_scan_seconds(), 0.0042);
  expectParsesBackTo(metrics);
  // Zeros are printed, as protobuf prints them with always_print_primitive_fields.
  EXPECT_THAT(base::eventLine(metrics), ::testing::HasSubstr(R"("kubeletRestarts":"0")"));
}

TEST(EventLineTest, BytesThatAreNotUtf8BecomeReplacementCharacters) {
  v1::WorkerEvent devices;
  devices.set_event(v1::WorkerEvent::devices);
  devices.set_worker("usb");
  devices.add_usable_units("usb-\xff\xfe");
  std::string line = base::eventLine(devices);
  v1::WorkerEvent parsed;
  ASSERT_TRUE(proto::jsonToMessage(line, &parsed).ok()) << line;
  EXPECT_EQ(parsed.usable_units(0), "usb-\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(MetricsTest, RunsAddUpCounterByCounterAndBucketByBucket) {
  WorkerMetrics first, second;
  first.allocated(grpc::StatusCode::OK, 100us);
  first.registered();
  second.allocated(grpc::StatusCode::OK, 1ms);
  second.allocated(grpc::StatusCode::INVALID_ARGUMENT, 1ms);
  v1::WorkerMetrics sum;
  addMetrics(sum, first.snapshot());
  addMetrics(sum, second.snapshot());
  EXPECT_EQ(sum.registrations(), 1u);
  EXPECT_EQ(sum.allocate_calls().at("OK"), 2u);
  EXPECT_EQ(sum.allocate_calls().at("INVALID_ARGUMENT"), 1u);
  EXPECT_EQ(sum.allocate_seconds().count(), 3u);
  EXPECT_EQ(sum.allocate_seconds().cumulative_counts(0), 1u);  // le 0.0001
  EXPECT_EQ(sum.allocate_seconds().cumulative_counts(3), 3u);  // le 0.001
}

TEST(MetricsTest, ExitReasonsAreAFixedSet) {
  v1::ExitInfo exit;
  exit.set_exit_code(0);
  EXPECT_EQ(exitReason(exit), "clean");
  exit.set_exit_code(78);
  EXPECT_EQ(exitReason(exit), "config_error");
  exit.set_exit_code(1);
  EXPECT_EQ(exitReason(exit), "error");
  exit.set_signaled(true);
  exit.set_signal(SIGSEGV);
  EXPECT_EQ(exitReason(exit), "signal");
  exit.set_reason("no heartbeat for 15s");
  EXPECT_EQ(exitReason(exit), "killed");
}

TEST(MetricsTest, TheAddressIsOffAPortOrAHostAndPort) {
  for (const char* good : {"off", "9470", "0.0.0.0:9470", "127.0.0.1:1", "+9470", "node-1:9470"}) {
    EXPECT_EQ(checkMetricsAddress(good), "") << good;
  }
  // Debian's civetweb never listens on a bracketed IPv6 address: +PORT is its way.
  for (const char* bad : {"", "on", "0", "65536", ":9470", "::1:9470", "host:", "host:port",
                          "9470 ", "1.2.3.4:-1", "[::]:9470", "[::1]:9470", "+", "+:9470"}) {
    EXPECT_NE(checkMetricsAddress(bad), "") << bad;
  }
  EXPECT_EQ(displayAddress("9470"), "0.0.0.0:9470");
  EXPECT_EQ(displayAddress("+9470"), "[::]:9470");
  EXPECT_EQ(displayAddress("127.0.0.1:9470"), "127.0.0.1:9470");
}

// A status with every catalog worker: one running with counts, one in backoff after a
// crash, the rest starting.
v1::SupervisorStatus someStatus() {
  v1::SupervisorStatus status;
  status.set_version("1.2.3");
  for (const auto& name : catalog::resources()) {
    auto* worker = status.add_workers();
    worker->set_name(name);
    worker->set_resource(catalog::resourceName(name));
    worker->set_state(v1::WorkerStatus::starting);
    worker->set_pid(100);
    worker->set_started_at_unix_ms(1'000'000);
  }
  auto* running = status.mutable_workers(0);
  running->set_state(v1::WorkerStatus::running);
  running->set_devices_total(1000);
  running->set_devices_healthy(999);
  WorkerMetrics counted;
  counted.allocated(grpc::StatusCode::OK, 100us);
  counted.scanned(1ms);
  *running->mutable_metrics() = counted.snapshot();
  auto* crashed = status.mutable_workers(1);
  crashed->set_state(v1::WorkerStatus::backoff);
  crashed->set_pid(0);
  crashed->set_restarts(1);
  crashed->set_devices_total(1000);  // as last seen: not shown while it is down
  crashed->mutable_last_exit()->set_signaled(true);
  crashed->mutable_last_exit()->set_at_unix_ms(1'500'000);
  (*crashed->mutable_exits())["signal"] = 1;
  return status;
}

const prometheus::MetricFamily& find(const std::vector<prometheus::MetricFamily>& families,
                                     const std::string& name) {
  for (const auto& family : families) {
    if (family.name == name) return family;
  }
  static const prometheus::MetricFamily kNone;
  ADD_FAILURE() << "no family " << name;
  return kNone;
}

std::string label(const prometheus::ClientMetric& metric, const std::string& name) {
  for (const auto& l : metric.label) {
    if (l.name == name) return l.value;
  }
  return "";
}

TEST(MetricsTest, FamiliesFollowThePrometheusNamingRules) {
  auto families = metricFamilies(someStatus(), 2'000'000);
  std::regex name("mvf_[a-z][a-z0-9_]*");
  std::regex labelName("[a-z][a-z0-9_]*");
  std::set<std::string> seen;
  for (const auto& family : families) {
    SCOPED_TRACE(family.name);
    EXPECT_TRUE(std::regex_match(family.name, name));
    EXPECT_TRUE(seen.insert(family.name).second) << "twice";
    EXPECT_FALSE(family.help.empty());
    bool counter = family.type == prometheus::MetricType::Counter;
    EXPECT_EQ(counter, family.name.ends_with("_total")) << "_total is for counters only";
    if (family.type == prometheus::MetricType::Histogram) {
      EXPECT_TRUE(family.name.ends_with("_seconds")) << "a time in base units";
    }
    for (const auto& metric : family.metric) {
      for (const auto& l : metric.label) {
        EXPECT_TRUE(std::regex_match(l.name, labelName)) << l.name;
        // Bounded: no label is a device ID.
        EXPECT_THAT(l.name, ::testing::AnyOf("worker", "resource", "state", "reason", "code",
                                             "result", "version"));
      }
    }
  }
}

TEST(MetricsTest, FamiliesSayWhatTheStatusSays) {
  auto families = metricFamilies(someStatus(), 2'000'000);
  const auto& up = find(families, "mvf_worker_up");
  ASSERT_EQ(up.metric.size(), catalog::resources().size());
  EXPECT_EQ(up.metric[0].gauge.value, 1);
  EXPECT_EQ(up.metric[1].gauge.value, 0) << "a worker in backoff is down, never a stale up";
  EXPECT_EQ(up.metric[2].gauge.value, 0) << "starting is not up yet";

  const auto& devices = find(families, "mvf_devices");
  ASSERT_EQ(devices.metric.size(), 1u) << "only a running worker's list is shown";
  EXPECT_EQ(label(devices.metric[0], "resource"), catalog::resourceName(catalog::resources()[0]));
  EXPECT_EQ(find(families, "mvf_devices_healthy").metric[0].gauge.value, 999);

  const auto& exits = find(families, "mvf_worker_exits_total");
  double signals = 0;
  for (const auto& metric : exits.metric) {
    if (label(metric, "worker") == catalog::resources()[1] && label(metric, "reason") == "signal") {
      signals = metric.counter.value;
    }
  }
  EXPECT_EQ(signals, 1);
  const auto& lastExit = find(families, "mvf_worker_last_exit_timestamp_seconds");
  ASSERT_EQ(lastExit.metric.size(), 1u);
  EXPECT_EQ(lastExit.metric[0].gauge.value, 1500);
  EXPECT_EQ(label(lastExit.metric[0], "reason"), "signal");

  const auto& uptime = find(families, "mvf_worker_uptime_seconds");
  EXPECT_EQ(uptime.metric[0].gauge.value, 1000);
  EXPECT_EQ(uptime.metric[1].gauge.value, 0);

  const auto& allocates = find(families, "mvf_allocate_requests_total");
  ASSERT_EQ(allocates.metric.size(), 1u);
  EXPECT_EQ(label(allocates.metric[0], "code"), "OK");
  const auto& seconds = find(families, "mvf_allocate_duration_seconds");
  const auto& buckets = seconds.metric[0].histogram.bucket;
  ASSERT_EQ(buckets.size(), std::size(WorkerMetrics::kBuckets) + 1);
  EXPECT_TRUE(std::isinf(buckets.back().upper_bound));
  EXPECT_EQ(buckets.back().cumulative_count, 1u);
  // A worker that counted nothing yet still has its series, at 0, with a +Inf bucket.
  EXPECT_EQ(seconds.metric[2].histogram.sample_count, 0u);
  EXPECT_EQ(seconds.metric[2].histogram.bucket.size(), 1u);
}

// The supervisor's side: counts of a worker's runs add up across its restarts.
class SlotMetricsTest : public ::testing::Test {
 protected:
  void say(const std::string& event, const std::string& extra = "") {
    launcher_.say(slot_.pid(), event, extra);
    timers_.pollFds();
  }

  testing::FakeTimers timers_;
  testing::FakeLauncher launcher_;
  WorkerSlot slot_{"udma",
                   {.binary = "/opt/mvf/mvf-worker-udma", .args = {"--log-level", "info"}},
                   {.timers = timers_,
                    .fds = timers_,
                    .launcher = launcher_,
                    .random = [] { return 0.5; },
                    .settingsOf = [](const std::string&, const WorkerSlot::Config&)
                        -> base::Result<std::string> { return std::string("s"); },
                    .changed = [] {}}};
};

TEST_F(SlotMetricsTest, ARunsCountsJoinTheEarlierRunsWhenItExits) {
  slot_.enable();
  say("ready", ",\"settingsDigest\":\"s\"");
  say("metrics", R"(,"counts":{"registrations":"1","allocateCalls":{"OK":"5"}})");
  say("metrics", R"(,"counts":{"registrations":"1","allocateCalls":{"OK":"7"}})");
  EXPECT_EQ(slot_.status().metrics().allocate_calls().at("OK"), 7u) << "the last event counts";
  slot_.onExit(SIGSEGV);
  EXPECT_EQ(slot_.status().exits().at("signal"), 1u);
  timers_.advance(1h);  // restarted
  say("ready", ",\"settingsDigest\":\"s\"");
  say("metrics", R"(,"counts":{"registrations":"1","allocateCalls":{"OK":"2"}})");
  auto status = slot_.status();
  EXPECT_EQ(status.metrics().registrations(), 2u);
  EXPECT_EQ(status.metrics().allocate_calls().at("OK"), 9u);
}

TEST_F(SlotMetricsTest, TheDevicesEventCarriesTheModeAndTheUsableUnitsUntilTheWorkerExits) {
  slot_.enable();
  say("devices",
      R"(,"total":1000,"healthy":1000,"mode":"shared","usableUnits":["usb-1-1","usb-1-2"],)"
      R"("usableUnitsTotal":2)");
  auto status = slot_.status();
  EXPECT_EQ(status.mode(), "shared");
  EXPECT_THAT(status.usable_units(), ElementsAre("usb-1-1", "usb-1-2"));
  EXPECT_EQ(status.usable_units_total(), 2u);
  slot_.onExit(0);
  EXPECT_THAT(slot_.status().usable_units(), IsEmpty());
  EXPECT_EQ(slot_.status().mode(), "");
}

}  // namespace
}  // namespace mvf::supervisor
