// The supervisor's Prometheus endpoint end to end: scraped over HTTP and read by
// Prometheus' own text parser (python3-prometheus-client), checked against the naming
// conventions, and counted after known events — Allocates with each result code, a
// device removed, a worker killed, a worker crash looping; then a port already taken.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "base/unique_fd.h"
#include "tests/integration/supervisor_test.h"
#include "tests/support/tcp_port.h"

namespace mvf::testing {
namespace {

using ::testing::ElementsAre;

// One scrape as Prometheus' parser reads it: the exposition text, and every sample's
// value by "name{label=value,...}" with labels sorted.
struct Scrape {
  std::string text;
  std::map<std::string, double> samples;
  std::map<std::string, std::string> types;  // family name → type, as the parser says

  double at(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
  }
};

std::optional<Scrape> scrape(int port) {
  CommandResult ran = runCommand({"/usr/bin/python3", METRICS_SCRAPE,
                                  "http://127.0.0.1:" + std::to_string(port) + "/metrics"});
  if (ran.exitCode != 0) return std::nullopt;
  auto json = nlohmann::json::parse(ran.output.substr(ran.output.find('{')), nullptr, false);
  if (json.is_discarded()) {
    ADD_FAILURE() << "not JSON: " << ran.output;
    return std::nullopt;
  }
  Scrape out{.text = json["text"], .samples = {}, .types = {}};
  for (const auto& family : json["families"]) {
    out.types[family["name"]] = family["type"];
    for (const auto& sample : family["samples"]) {
      std::map<std::string, std::string> labels = sample["labels"];
      std::string key = sample["name"];
      if (!labels.empty()) {
        key += "{";
        for (const auto& [name, value] : labels) key += name + "=" + value + ",";
        key.back() = '}';
      }
      out.samples[key] = sample["value"].is_null() ? std::nan("") : double(sample["value"]);
    }
  }
  return out;
}

class MetricsTest : public SupervisorTest {
 protected:
  // Scrapes until `done` holds (counts reach the supervisor a moment after the event).
  std::optional<Scrape> awaitScrape(const std::function<bool(const Scrape&)>& done) {
    auto deadline = std::chrono::steady_clock::now() + kTimeout;
    std::optional<Scrape> last;
    while (std::chrono::steady_clock::now() < deadline) {
      last = scrape(port_);
      if (last && done(*last)) return last;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "the scrape never matched; last:\n"
                  << (last ? last->text : "(none)") << "\n"
                  << log();
    return std::nullopt;
  }

  grpc::StatusCode allocate(const std::string& id) {
    v1beta1::AllocateRequest request;
    request.add_container_requests()->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    return kubelet_.allocate("intel.com/udma", request, &response).error_code();
  }

  int port_ = freePort();

  static int freePort() {
    auto port = bindFreePort(false);
    EXPECT_TRUE(port) << port.error().message;
    return port ? port.value().number : 0;
  }
};

// Our own checks beside the parser's (which takes a counter without _total): every
// family of ours is mvf_-prefixed snake case, _total exactly on counters, histograms in
// seconds, and every family says what it is.
void expectPrometheusConventions(const std::string& text) {
  std::regex type("# TYPE ([^ ]+) ([a-z]+)");
  std::regex help("# HELP ([^ ]+) .+");
  std::set<std::string> helped;
  size_t ours = 0;
  for (std::sregex_iterator it(text.begin(), text.end(), help), end; it != end; ++it) {
    helped.insert((*it)[1]);
  }
  for (std::sregex_iterator it(text.begin(), text.end(), type), end; it != end; ++it) {
    std::string name = (*it)[1], kind = (*it)[2];
    if (!name.starts_with("mvf_")) continue;
    ++ours;
    SCOPED_TRACE(name);
    EXPECT_TRUE(std::regex_match(name, std::regex("mvf_[a-z][a-z0-9_]*")));
    EXPECT_EQ(kind == "counter", name.ends_with("_total"));
    if (kind == "histogram") {
      EXPECT_TRUE(name.ends_with("_seconds"));
    }
    EXPECT_TRUE(helped.contains(name)) << "no HELP";
  }
  EXPECT_GE(ours, 15u);
}

TEST_F(MetricsTest, TheExpositionParsesAndCountsAllocatesByResult) {
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--metrics-address", "127.0.0.1:" + std::to_string(port_)});
  ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();

  EXPECT_EQ(allocate("udma-0"), grpc::StatusCode::OK);
  EXPECT_EQ(allocate("no-such-id"), grpc::StatusCode::INVALID_ARGUMENT);
  ASSERT_OK(node_.remove("/dev/udmabuf"));
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) { return node.at("intel.com/udma").healthy() == 0; }, kTimeout));
  EXPECT_EQ(allocate("udma-0"), grpc::StatusCode::FAILED_PRECONDITION);

  const std::string udma = "resource=intel.com/udma";
  auto counted = awaitScrape([&](const Scrape& s) {
    return s.at("mvf_allocate_requests_total{code=FAILED_PRECONDITION," + udma + "}") == 1 &&
           s.at("mvf_devices_healthy{" + udma + "}") == 0;
  });
  ASSERT_TRUE(counted);
  const Scrape& s = *counted;
  expectPrometheusConventions(s.text);
  EXPECT_EQ(s.types.at("mvf_allocate_requests"), "counter");  // the parser drops _total
  EXPECT_EQ(s.types.at("mvf_allocate_duration_seconds"), "histogram");
  EXPECT_EQ(s.at("mvf_allocate_requests_total{code=OK," + udma + "}"), 1);
  EXPECT_EQ(s.at("mvf_allocate_requests_total{code=INVALID_ARGUMENT," + udma + "}"), 1);
  EXPECT_EQ(s.at("mvf_allocate_duration_seconds_count{" + udma + "}"), 3);
  EXPECT_EQ(s.at("mvf_allocate_duration_seconds_bucket{le=+Inf," + udma + "}"), 3);
  EXPECT_EQ(s.at("mvf_devices{" + udma + "}"), 1000);
  for (const auto& name : kWorkers) {
    SCOPED_TRACE(name);
    std::string resource = "resource=" + catalog::resourceName(name);
    EXPECT_EQ(s.at("mvf_worker_up{worker=" + name + "}"), 1);
    EXPECT_EQ(s.at("mvf_worker_state{state=running,worker=" + name + "}"), 1);
    EXPECT_EQ(s.at("mvf_registrations_total{" + resource + "}"), 1);
    EXPECT_GE(s.at("mvf_list_and_watch_messages_total{" + resource + "}"), 1);
    EXPECT_GE(s.at("mvf_scan_duration_seconds_count{" + resource + "}"), 1);
    EXPECT_GT(s.at("mvf_worker_uptime_seconds{worker=" + name + "}"), 0);
  }
  EXPECT_GE(s.at("exposer_scrapes_total"), 0) << "the exposer's own metrics (-1: missing)";
}

TEST_F(MetricsTest, CountersAddUpAcrossAKilledWorkersRuns) {
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--metrics-address", "127.0.0.1:" + std::to_string(port_)});
  ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();
  auto running = status();
  ASSERT_TRUE(running);
  ASSERT_EQ(::kill(worker(*running, "vfio")->pid(), SIGKILL), 0);
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) { return node.at("intel.com/vfio").registrations == 2; }, kTimeout));
  auto after = awaitScrape([](const Scrape& s) {
    return s.at("mvf_registrations_total{resource=intel.com/vfio}") == 2 &&
           s.at("mvf_worker_up{worker=vfio}") == 1;
  });
  ASSERT_TRUE(after);
  EXPECT_EQ(after->at("mvf_worker_restarts_total{worker=vfio}"), 1);
  EXPECT_EQ(after->at("mvf_worker_exits_total{reason=signal,worker=vfio}"), 1);
  EXPECT_EQ(after->at("mvf_worker_exits_total{reason=clean,worker=vfio}"), 0);
  EXPECT_GT(after->at("mvf_worker_last_exit_timestamp_seconds{reason=signal,worker=vfio}"), 0);
  EXPECT_EQ(after->at("mvf_worker_restarts_total{worker=udma}"), 0) << "no other worker touched";
}

TEST_F(MetricsTest, AWorkerWaitingToRestartIsDownNeverAStaleUp) {
  replaceWithFixture("igpu", "crash");
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--metrics-address", "127.0.0.1:" + std::to_string(port_), "--restart-backoff",
                   "1h", "--restart-backoff-max", "1h"});
  auto down = awaitScrape(
      [](const Scrape& s) { return s.at("mvf_worker_state{state=backoff,worker=igpu}") == 1; });
  ASSERT_TRUE(down);
  EXPECT_EQ(down->at("mvf_worker_up{worker=igpu}"), 0);
  EXPECT_EQ(down->at("mvf_worker_uptime_seconds{worker=igpu}"), 0);
  EXPECT_EQ(down->at("mvf_devices{resource=intel.com/igpu}"), -1) << "no list while it is down";
  EXPECT_EQ(down->at("mvf_worker_exits_total{reason=signal,worker=igpu}"), 1);
}

TEST_F(MetricsTest, APortTakenCostsTheMetricsOnlyAndIsTriedAgain) {
  auto taken = bindFreePort(true);
  ASSERT_OK(taken);
  port_ = taken.value().number;
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--metrics-address", "127.0.0.1:" + std::to_string(port_),
                   "--metrics-retry-interval", "100ms"});
  ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();
  ASSERT_TRUE(supervisor_->awaitLog(
      "cannot serve metrics on 127.0.0.1:" + std::to_string(port_) + ": Address already in use",
      kTimeout))
      << log();
  auto failing = awaitStatus([](const v1::SupervisorStatus& s) {
    return !s.metrics_error().empty() && s.overall() == v1::SupervisorStatus::ok;
  });
  ASSERT_TRUE(failing);
  EXPECT_EQ(failing->metrics_address(), "127.0.0.1:" + std::to_string(port_));
  auto shown = runCommand({MVFCTL, "status", "--status-socket", statusSocket()});
  EXPECT_THAT(shown.output, ::testing::HasSubstr("metrics: NOT SERVING: cannot serve metrics on"));

  taken.value().fd.reset();  // the port is free again
  ASSERT_TRUE(awaitStatus([](const v1::SupervisorStatus& s) { return s.metrics_error().empty(); }));
  EXPECT_TRUE(awaitScrape([](const Scrape& s) { return s.at("mvf_worker_up{worker=udma}") == 1; }));
  // Said once, not once per retry.
  std::string text = log();
  EXPECT_EQ(text.find("cannot serve metrics"), text.rfind("cannot serve metrics"));
}

// civetweb's threads each hold a connection: idle ones are dropped after
// --metrics-request-timeout, so they cannot keep scrapes out for long.
TEST_F(MetricsTest, IdleConnectionsCannotHoldUpAScrape) {
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--metrics-address", "127.0.0.1:" + std::to_string(port_),
                   "--metrics-request-timeout", "300ms"});
  ASSERT_TRUE(awaitScrape([](const Scrape& s) { return s.at("mvf_worker_up{worker=udma}") >= 0; }));
  std::vector<base::UniqueFd> idle;
  for (int i = 0; i < 8; ++i) {  // more than civetweb's threads, sending nothing
    base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port_));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    idle.push_back(std::move(fd));
  }
  // The scraper gives up after 5 s: civetweb's default would keep it out for 30 s.
  EXPECT_TRUE(scrape(port_)) << "a scrape waits at most for the idle ones to be dropped";
}

TEST_F(MetricsTest, OffServesNothing) {
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--metrics-address", "off"});
  ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();
  auto running = status();
  ASSERT_TRUE(running);
  EXPECT_EQ(running->metrics_address(), "");
  auto shown = runCommand({MVFCTL, "status", "--status-socket", statusSocket()});
  EXPECT_THAT(shown.output, ::testing::HasSubstr("metrics: off"));
  EXPECT_THAT(log(), ::testing::Not(::testing::HasSubstr("Prometheus metrics on")));
}

}  // namespace
}  // namespace mvf::testing
