#pragma once

// What the supervisor's integration tests share: a node with a udmabuf node, the kubelet
// stand-in, a dir of worker binaries (where a test may put the fixture worker in one's
// place), an mvf-supervisor process with fast timers, and its status socket.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <thread>

#include "catalog/catalog.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "proto/supervisor.grpc.pb.h"
#include "tests/support/fake_node.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {

namespace fs = std::filesystem;
namespace v1 = mvf::supervisor::v1;
using namespace std::chrono_literals;
using kubelet::KubeletStandIn;
using kubelet::Node;
using ::testing::HasSubstr;

inline constexpr auto kTimeout = 10s;
// Every worker the catalog has: the tests hold for a resource added later too.
inline const std::vector<std::string>& kWorkers = catalog::resources();

// Every worker but `except`.
inline std::vector<std::string> othersThan(const std::string& except) {
  std::vector<std::string> others;
  for (const auto& name : kWorkers) {
    if (name != except) others.push_back(name);
  }
  return others;
}

inline bool allRegistered(const Node& node) {
  for (const auto& name : kWorkers) {
    auto it = node.find(catalog::resourceName(name));
    if (it == node.end() || it->second.stopped || it->second.registrations == 0 ||
        it->second.capacity() != 1000) {
      return false;
    }
  }
  return true;
}

// All registered, except `except` which is checked on its own.
inline bool allRegisteredBut(const Node& node, const std::string& except) {
  for (const auto& name : kWorkers) {
    if (name == except) continue;
    auto it = node.find(catalog::resourceName(name));
    if (it == node.end() || it->second.stopped || it->second.registrations == 0) return false;
  }
  return true;
}

class SupervisorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FakeNode::canMknod()) GTEST_SKIP() << "needs CAP_MKNOD to build device nodes";
    ASSERT_OK(node_.charDevice("/dev/udmabuf"));
    // The supervisor finds workers beside itself or in --workers-dir: a dir of links to
    // the real binaries, where a test may put the fixture in one worker's place.
    fs::create_directories(workersDir());
    for (const auto& name : kWorkers) {
      fs::create_symlink(fs::path(MVF_SUPERVISOR).parent_path() / ("mvf-worker-" + name),
                         workersDir() + "/mvf-worker-" + name);
    }
  }

  std::string workersDir() const { return node_.dir() + "/bin"; }
  std::string statusSocket() const { return node_.dir() + "/run/status.sock"; }
  std::string starts() const { return node_.dir() + "/starts"; }

  // Puts the fixture worker in place of `name`, misbehaving as `mode` says.
  void replaceWithFixture(const std::string& name, const std::string& mode) {
    fs::remove(workersDir() + "/mvf-worker-" + name);
    fs::create_symlink(MVF_FIXTURE_WORKER, workersDir() + "/mvf-worker-" + name);
    ::setenv("MVF_FIXTURE_MODE", mode.c_str(), 1);
    ::setenv("MVF_FIXTURE_STARTS", starts().c_str(), 1);
  }

  void TearDown() override {
    ::unsetenv("MVF_FIXTURE_MODE");
    ::unsetenv("MVF_FIXTURE_STARTS");
  }

  std::vector<std::string> supervisorArgs(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--kubelet-dir",
                                     node_.kubeletDir(),
                                     "--host-root",
                                     node_.root(),
                                     "--run-dir",
                                     node_.runDir(),
                                     "--status-socket",
                                     statusSocket(),
                                     "--workers-dir",
                                     workersDir(),
                                     "--register-backoff",
                                     "10ms",
                                     "--register-backoff-max",
                                     "200ms",
                                     "--heartbeat-interval",
                                     "50ms",
                                     "--stable-after",
                                     "100ms",
                                     "--log-level",
                                     "debug"};
    // No TCP port unless a test asks: tests run in parallel, and 9470 may be taken.
    if (std::find(extra.begin(), extra.end(), "--metrics-address") == extra.end()) {
      args.insert(args.end(), {"--metrics-address", "off"});
    }
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  void startSupervisor(std::vector<std::string> extra = {},
                       const std::string& binary = MVF_SUPERVISOR) {
    supervisor_ = std::make_unique<WorkerProcess>(binary, supervisorArgs(std::move(extra)),
                                                  node_.dir() + "/supervisor.log", false);
  }

  std::optional<v1::SupervisorStatus> status() {
    auto stub = v1::Supervisor::NewStub(
        grpc::CreateChannel("unix://" + statusSocket(), grpc::InsecureChannelCredentials()));
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 2s);
    v1::SupervisorStatus out;
    if (!stub->GetStatus(&context, {}, &out).ok()) return std::nullopt;
    return out;
  }

  // The named worker's status; an empty one while the supervisor has not listed it yet.
  static const v1::WorkerStatus* worker(const v1::SupervisorStatus& status,
                                        const std::string& name) {
    static const v1::WorkerStatus kNone;
    for (const auto& w : status.workers()) {
      if (w.name() == name) return &w;
    }
    return &kNone;
  }

  // Polls the status socket until `ready(status)` holds: status has no event to block on.
  std::optional<v1::SupervisorStatus> awaitStatus(
      const std::function<bool(const v1::SupervisorStatus&)>& ready,
      std::chrono::milliseconds timeout = kTimeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      if (auto current = status(); current && ready(*current)) return current;
      std::this_thread::sleep_for(20ms);
    }
    ADD_FAILURE() << "status never matched\n" << log();
    return std::nullopt;
  }

  std::vector<int64_t> startTimes() const {
    std::vector<int64_t> times;
    std::ifstream in(starts());
    for (int64_t t; in >> t;) times.push_back(t);
    return times;
  }

  // The kubelet stays away: no worker may be killed for it, and all register when it
  // comes. Every worker must report ready without the kubelet (the ready timeout leaves
  // room for a slow machine to start five processes), and then a silence of 1 s — twenty
  // heartbeats, so load alone never causes it — would get it killed while the kubelet
  // stays away longer than that.
  void expectNoWorkerKilledWhileTheKubeletIsAway() {
    startSupervisor({"--ready-timeout", "5s", "--heartbeat-timeout", "1s"});
    auto running = awaitStatus([](const v1::SupervisorStatus& s) {
      int ready = 0;
      for (const auto& w : s.workers()) ready += w.state() == v1::WorkerStatus::running;
      return ready == static_cast<int>(kWorkers.size());
    });
    ASSERT_TRUE(running);
    std::this_thread::sleep_for(2s);  // the absence itself
    auto later = status();
    ASSERT_TRUE(later);
    for (const auto& w : later->workers()) {
      EXPECT_EQ(w.restarts(), 0u) << w.name();
      EXPECT_EQ(w.state(), v1::WorkerStatus::running) << w.name();
      EXPECT_FALSE(w.registered()) << w.name();
    }
    ASSERT_OK(kubelet_.start());
    ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();
  }

  std::string log() const { return supervisor_ ? supervisor_->log() : ""; }

  FakeNode node_;
  KubeletStandIn kubelet_{node_.kubeletDir()};
  std::unique_ptr<WorkerProcess> supervisor_;
};

}  // namespace mvf::testing
