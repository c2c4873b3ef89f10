// mvf-supervisor with the real worker binaries (and, where a test needs a worker that
// misbehaves, the fixture worker in its place) against the kubelet stand-in. One file,
// longer than most, because every test shares one fixture (supervisor_test.h); the
// rules themselves are unit tests (worker_slot_test.cpp, supervisor_rules_test.cpp),
// and these check them end to end.
#include "tests/integration/supervisor_test.h"

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>

namespace mvf::testing {
namespace {

// The README's --workers x11,udma: a comma list on the command line, as in env and INI.
TEST(SupervisorCli, WorkersTakeACommaListOnTheCommandLine) {
  auto checked =
      runCommand({MVF_SUPERVISOR, "--workers", "udma, x11", "--workers", "udma", "--check-config"});
  EXPECT_EQ(checked.exitCode, 0) << checked.output;
  EXPECT_THAT(checked.output, HasSubstr("# mvf-worker-udma\n"));
  EXPECT_THAT(checked.output, HasSubstr("# mvf-worker-x11\n"));
  EXPECT_THAT(checked.output, ::testing::Not(HasSubstr("# mvf-worker-vfio")));
  for (const char* bad : {"x11,nope", ",", ""}) {
    auto refused = runCommand({MVF_SUPERVISOR, "--workers", bad, "--check-config"});
    EXPECT_EQ(refused.exitCode, 78) << bad << "\n" << refused.output;
    EXPECT_THAT(refused.output, HasSubstr("expected worker names among")) << bad;
  }
}

// --help and --version parse no settings: every binary answers them and exits 0.
TEST(SupervisorCli, HelpAndVersionAnswerWithoutAConfig) {
  std::vector<std::string> binaries = {MVF_SUPERVISOR};
  for (const auto& name : kWorkers) {
    binaries.push_back(fs::path(MVF_SUPERVISOR).parent_path() / ("mvf-worker-" + name));
  }
  for (const auto& binary : binaries) {
    auto help = runCommand({binary, "--help"});
    EXPECT_EQ(help.exitCode, 0) << binary << "\n" << help.output;
    EXPECT_THAT(help.output, HasSubstr("Usage: ")) << binary;
    auto version = runCommand({binary, "--version"});
    EXPECT_EQ(version.exitCode, 0) << binary << "\n" << version.output;
    EXPECT_THAT(version.output, HasSubstr(fs::path(binary).filename().string() + " ")) << binary;
  }
}

TEST_F(SupervisorTest, AKilledWorkerComesBackAloneAndNoOtherStreamIsTouched) {
  ASSERT_OK(kubelet_.start());
  startSupervisor();
  ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();
  auto before = awaitStatus(
      [](const v1::SupervisorStatus& s) { return s.overall() == v1::SupervisorStatus::ok; });
  ASSERT_TRUE(before);
  pid_t vfio = worker(*before, "vfio")->pid();
  ASSERT_GT(vfio, 0);

  ASSERT_EQ(::kill(vfio, SIGKILL), 0);
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        const auto& state = node.at("intel.com/vfio");
        return state.registrations == 2 && !state.stopped && state.capacity() == 1000;
      },
      kTimeout))
      << log();

  // The other four: one registration each, their one stream never ended.
  for (const auto& name : othersThan("vfio")) {
    auto state = kubelet_.resource(catalog::resourceName(name));
    EXPECT_EQ(state->registrations, 1) << name;
    EXPECT_EQ(state->streamsEnded, 0) << name;
  }
  auto after = awaitStatus([&](const v1::SupervisorStatus& s) {
    const auto* w = worker(s, "vfio");
    return w->state() == v1::WorkerStatus::running && w->registered();
  });
  ASSERT_TRUE(after);
  const auto* w = worker(*after, "vfio");
  EXPECT_NE(w->pid(), vfio);
  EXPECT_EQ(w->restarts(), 1u);
  EXPECT_TRUE(w->last_exit().signaled());
  EXPECT_EQ(w->last_exit().signal_name(), "SIGKILL");
  EXPECT_EQ(w->last_exit().outcome_case(), v1::ExitInfo::kSignal)
      << "a death signal is no exit code";
  auto json = runCommand({MVFCTL, "status", "--json", "--status-socket", statusSocket()});
  auto parsed = parseJsonObject(json.output);
  ASSERT_TRUE(parsed) << json.output;
  for (const auto& entry : parsed->fields().at("workers").list_value().values()) {
    const auto& fields = entry.struct_value().fields();
    if (fields.at("name").string_value() != "vfio") continue;
    const auto& exit = fields.at("lastExit").struct_value().fields();
    EXPECT_EQ(exit.at("signalName").string_value(), "SIGKILL") << json.output;
    EXPECT_FALSE(exit.contains("exitCode")) << "printed only for a worker that exited\n"
                                            << json.output;
  }
}

TEST_F(SupervisorTest, ACrashLoopBacksOffPerThePolicyWhileTheOthersStayRegistered) {
  replaceWithFixture("vfio", "crash");
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--restart-backoff", "50ms", "--restart-backoff-max", "10s"});
  auto looping = awaitStatus([this](const v1::SupervisorStatus& s) {
    return worker(s, "vfio")->crash_looping() && startTimes().size() >= 6;
  });
  ASSERT_TRUE(looping);
  const auto* vfio = worker(*looping, "vfio");
  EXPECT_GE(vfio->consecutive_failures(), 5u);
  EXPECT_EQ(vfio->last_exit().signal_name(), "SIGSEGV");
  EXPECT_THAT(log(), HasSubstr("vfio is crash looping"));

  // It backs off: start n+1 comes no sooner than the policy's delay after start n,
  // 50 ms·2^(n−1) −20 %. A loaded machine only makes the gaps longer; the exact delays
  // are the restart policy's unit tests.
  auto times = startTimes();
  ASSERT_GE(times.size(), 6u);
  for (size_t n = 1; n <= 5; ++n) {
    double delay = 50.0 * static_cast<double>(1 << (n - 1));
    EXPECT_GE(static_cast<double>(times[n] - times[n - 1]), 0.8 * delay) << "restart " << n;
  }
  // Everyone else is registered and healthy meanwhile.
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        for (const auto& name : othersThan("vfio")) {
          auto it = node.find(catalog::resourceName(name));
          if (it == node.end() || it->second.stopped || it->second.registrations != 1) {
            return false;
          }
        }
        return node.at("intel.com/udma").healthy() == 1000;
      },
      kTimeout));
  EXPECT_EQ(looping->overall(), v1::SupervisorStatus::degraded);
  auto health = runCommand({MVFCTL, "health", "--ready", "--status-socket", statusSocket()});
  EXPECT_EQ(health.exitCode, 1);
  EXPECT_THAT(health.output, HasSubstr("vfio"));
}

TEST_F(SupervisorTest, AnAbsentKubeletKillsNoWorkerAndAllRegisterWhenItComes) {
  fs::create_directories(node_.kubeletDir());  // the DaemonSet mounts it
  expectNoWorkerKilledWhileTheKubeletIsAway();
}

// The plugin dir itself is missing until the kubelet makes it (a node still being set up).
TEST_F(SupervisorTest, AMissingPluginDirKillsNoWorkerAndAllRegisterWhenItComes) {
  ASSERT_FALSE(fs::exists(node_.kubeletDir()));
  expectNoWorkerKilledWhileTheKubeletIsAway();
}

TEST_F(SupervisorTest, AWorkerThatStopsHeartbeatingIsKilledAndRestarted) {
  replaceWithFixture("vfio", "hang");
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--heartbeat-timeout", "300ms", "--restart-backoff", "50ms"});
  auto killed =
      awaitStatus([](const v1::SupervisorStatus& s) { return worker(s, "vfio")->restarts() >= 1; });
  ASSERT_TRUE(killed);
  const auto& exit = worker(*killed, "vfio")->last_exit();
  EXPECT_EQ(exit.signal_name(), "SIGKILL");
  EXPECT_THAT(exit.reason(), HasSubstr("no heartbeat"));
  auto restarted =
      awaitStatus([](const v1::SupervisorStatus& s) { return worker(s, "vfio")->restarts() >= 2; });
  EXPECT_TRUE(restarted);
}

// The loop can be busy for seconds: on SIGHUP it asks each worker binary for its settings
// (--check-config, 5 s at most), and this fixture never answers. The status socket is
// served off the loop, so the chart's probes still get their answer meanwhile.
TEST_F(SupervisorTest, TheStatusSocketAnswersWhileTheLoopWaitsOnAWorkerBinary) {
  replaceWithFixture("vfio", "behave");
  ASSERT_OK(kubelet_.start());
  startSupervisor();
  ASSERT_TRUE(awaitStatus([](const v1::SupervisorStatus& s) {
    return worker(s, "vfio")->state() == v1::WorkerStatus::running;
  }));
  ASSERT_EQ(startTimes().size(), 1u);
  supervisor_->signal(SIGHUP);
  // The fixture started again: as `--check-config`, which the loop now waits on.
  ASSERT_TRUE(
      awaitStatus([this](const v1::SupervisorStatus&) { return startTimes().size() == 2; }));
  auto live = runCommand({MVFCTL, "health", "--status-socket", statusSocket()});
  EXPECT_EQ(live.exitCode, 0) << live.output;
  EXPECT_THAT(live.output, HasSubstr("answers"));
  EXPECT_THAT(log(), ::testing::Not(HasSubstr("gave no answer")))
      << "answered while the loop waited";
  ASSERT_TRUE(supervisor_->awaitLog("--check-config gave no answer within 5 s", kTimeout)) << log();
}

TEST_F(SupervisorTest, AWorkerNeverReadyIsKilledAsNotReady) {
  replaceWithFixture("udma", "never-ready");
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--ready-timeout", "300ms"});
  auto killed =
      awaitStatus([](const v1::SupervisorStatus& s) { return worker(s, "udma")->restarts() >= 1; });
  ASSERT_TRUE(killed);
  EXPECT_THAT(worker(*killed, "udma")->last_exit().reason(), HasSubstr("not ready within"));
}

TEST_F(SupervisorTest, ExitCode78IsNotRestartedUntilSighup) {
  replaceWithFixture("usb", "exit78");
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--restart-backoff", "10ms"});
  auto failed = awaitStatus([](const v1::SupervisorStatus& s) {
    return worker(s, "usb")->state() == v1::WorkerStatus::failed;
  });
  ASSERT_TRUE(failed);
  EXPECT_THAT(worker(*failed, "usb")->failed_reason(), HasSubstr("exit 78"));
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        for (const auto& name : othersThan("usb")) {
          auto it = node.find(catalog::resourceName(name));
          if (it == node.end() || it->second.stopped) return false;
        }
        return true;
      },
      kTimeout));
  EXPECT_EQ(startTimes().size(), 1u) << "failed(config) must not be restarted";

  supervisor_->signal(SIGHUP);
  ASSERT_TRUE(supervisor_->awaitLog("usb: trying again after SIGHUP", kTimeout)) << log();
  // Started once more, and failed once more: the same configuration error.
  auto again = awaitStatus([this](const v1::SupervisorStatus& s) {
    return startTimes().size() == 2 && worker(s, "usb")->state() == v1::WorkerStatus::failed &&
           worker(s, "usb")->pid() == 0;
  });
  ASSERT_TRUE(again);
}

TEST_F(SupervisorTest, SighupRestartsOnlyTheWorkersWhoseSettingsChanged) {
  std::string config = node_.dir() + "/mvf.ini";
  std::ofstream(config) << "[udma]\nshared-count = 10\n";
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--config", config});
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        auto it = node.find("intel.com/udma");
        return allRegisteredBut(node, "udma") && it != node.end() && !it->second.stopped &&
               it->second.capacity() == 10;
      },
      kTimeout))
      << log();

  std::ofstream(config) << "[udma]\nshared-count = 20\n";
  supervisor_->signal(SIGHUP);
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        const auto& udma = node.at("intel.com/udma");
        return udma.registrations == 2 && !udma.stopped && udma.capacity() == 20;
      },
      kTimeout))
      << log();
  for (const auto& name : othersThan("udma")) {
    auto state = kubelet_.resource(catalog::resourceName(name));
    EXPECT_EQ(state->registrations, 1) << name;
    EXPECT_EQ(state->streamsEnded, 0) << name;
  }
  // A bad value on SIGHUP keeps the worker running as it is.
  std::ofstream(config) << "[udma]\nshared-count = lots\n";
  supervisor_->signal(SIGHUP);
  ASSERT_TRUE(supervisor_->awaitLog("the new configuration is not valid", kTimeout)) << log();
  EXPECT_EQ(kubelet_.resource("intel.com/udma")->registrations, 2);
}

TEST_F(SupervisorTest, AMissingWorkerBinaryIsReportedClearly) {
  fs::remove(workersDir() + "/mvf-worker-igpu");
  startSupervisor();
  auto failed = awaitStatus([](const v1::SupervisorStatus& s) {
    return worker(s, "igpu")->state() == v1::WorkerStatus::failed;
  });
  ASSERT_TRUE(failed);
  EXPECT_THAT(worker(*failed, "igpu")->failed_reason(),
              HasSubstr("mvf-worker-igpu: No such file or directory"));
}

TEST_F(SupervisorTest, SigtermLeavesNoProcessAndNoSocketAndExitsZero) {
  replaceWithFixture("x11", "ignore-term");
  ASSERT_OK(kubelet_.start());
  startSupervisor({"--grace-period", "500ms"});
  auto running = awaitStatus([](const v1::SupervisorStatus& s) {
    int registered = 0;
    for (const auto& w : s.workers()) registered += w.registered();
    return registered == 4 && worker(s, "x11")->state() == v1::WorkerStatus::running;
  });
  ASSERT_TRUE(running);
  std::vector<pid_t> pids;
  for (const auto& w : running->workers()) pids.push_back(w.pid());

  auto asked = std::chrono::steady_clock::now();
  supervisor_->signal(SIGTERM);
  auto exit = supervisor_->wait(kTimeout);
  ASSERT_TRUE(exit.has_value()) << log();
  EXPECT_GE(std::chrono::steady_clock::now() - asked, 500ms) << "the grace period first";
  ASSERT_TRUE(WIFEXITED(*exit)) << log();
  EXPECT_EQ(WEXITSTATUS(*exit), 0);
  for (pid_t pid : pids) EXPECT_NE(::kill(pid, 0), 0) << "pid " << pid << " still runs";
  for (const auto& entry : fs::directory_iterator(node_.kubeletDir())) {
    EXPECT_EQ(entry.path().filename(), "kubelet.sock") << "left behind: " << entry.path();
  }
  EXPECT_FALSE(fs::exists(statusSocket()));
  EXPECT_THAT(log(), HasSubstr("killing x11"));
  EXPECT_THAT(log(), HasSubstr("still running 0.5s after SIGTERM"));
}

TEST_F(SupervisorTest, AsPid1ItReapsOrphanedGrandchildren) {
  replaceWithFixture("udma", "orphan");
  ASSERT_OK(kubelet_.start());
  // unshare makes the supervisor PID 1 of a new PID namespace, with its own /proc as a
  // container has: without it, /proc/<pid> inside names another process or none, which
  // LeakSanitizer (scripts/sanitize.sh) reads at every exit.
  auto args = supervisorArgs();
  args.insert(args.begin(),
              {"--pid", "--fork", "--mount-proc", "--kill-child=SIGKILL", MVF_SUPERVISOR});
  supervisor_ = std::make_unique<WorkerProcess>("/usr/bin/unshare", args,
                                                node_.dir() + "/supervisor.log", false);
  auto pid1 = awaitStatus([](const v1::SupervisorStatus& s) { return s.pid() != 0; });
  ASSERT_TRUE(pid1);
  EXPECT_EQ(pid1->pid(), 1);
  ASSERT_TRUE(supervisor_->awaitLog("reaped orphan pid", kTimeout)) << log();
  // As a container runtime does, signal PID 1 itself (unshare does not pass SIGTERM on):
  // a PID 1 takes only the signals it handles, and it must handle this one.
  std::ifstream children("/proc/" + std::to_string(supervisor_->pid()) + "/task/" +
                         std::to_string(supervisor_->pid()) + "/children");
  pid_t pid1Outside = 0;
  ASSERT_TRUE(children >> pid1Outside);
  ASSERT_EQ(::kill(pid1Outside, SIGTERM), 0);
  auto exit = supervisor_->wait(kTimeout);
  ASSERT_TRUE(exit.has_value()) << log();
  ASSERT_TRUE(WIFEXITED(*exit));
  EXPECT_EQ(WEXITSTATUS(*exit), 0) << log();
}

// base::tuneChildRuntime() at work: the thread-cache probe started by the supervisor as
// its udma worker, with `tunables` as the supervisor's GLIBC_TUNABLES (nullptr: unset).
// What the probe found (reused or cached), or "" when a sanitizer's allocator stands in.
class ThreadCacheTest : public SupervisorTest {
 protected:
  std::string probeAsWorker(const char* tunables) {
    fs::remove(workersDir() + "/mvf-worker-udma");
    fs::create_symlink(MVF_THREAD_CACHE_PROBE, workersDir() + "/mvf-worker-udma");
    if (tunables != nullptr) {
      ::setenv("GLIBC_TUNABLES", tunables, 1);
    } else {
      ::unsetenv("GLIBC_TUNABLES");
    }
    startSupervisor();
    ::unsetenv("GLIBC_TUNABLES");
    constexpr std::string_view kPrefix = "mvf-thread-cache-probe: ";
    EXPECT_TRUE(supervisor_->awaitLog(std::string(kPrefix), kTimeout)) << log();
    std::string text = log();
    size_t at = text.find(kPrefix);
    if (at == std::string::npos) return "not run";
    std::string found = text.substr(at + kPrefix.size(), text.find('\n', at) - at - kPrefix.size());
    return found == "sanitizer" ? "" : found;
  }
};

// Its workers leave a freed block over 256 bytes to every thread; by default glibc keeps
// it in the freeing thread's cache (tests/unit/runtime_test.cpp).
TEST_F(ThreadCacheTest, ItsWorkersCacheNoFreedBlockOver256BytesPerThread) {
  std::string found = probeAsWorker(nullptr);
  if (found.empty()) GTEST_SKIP() << "a sanitizer's allocator stands in for glibc's";
  EXPECT_EQ(found, "reused") << log();
}

TEST_F(ThreadCacheTest, AnOperatorsOwnCacheLimitStands) {
  std::string found = probeAsWorker("glibc.malloc.tcache_max=1032");
  if (found.empty()) GTEST_SKIP() << "a sanitizer's allocator stands in for glibc's";
  EXPECT_EQ(found, "cached") << log();
}

TEST_F(SupervisorTest, StatusAndReadinessMatchWhatTheKubeletSaw) {
  ASSERT_OK(kubelet_.start());
  startSupervisor();
  ASSERT_TRUE(kubelet_.waitFor(allRegistered, kTimeout)) << log();
  auto ok = awaitStatus(
      [](const v1::SupervisorStatus& s) { return s.overall() == v1::SupervisorStatus::ok; });
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->workers_size(), static_cast<int>(kWorkers.size()));
  for (const auto& w : ok->workers()) {
    auto seen = kubelet_.resource(w.resource());
    ASSERT_TRUE(seen) << w.resource();
    EXPECT_TRUE(w.registered()) << w.name();
    EXPECT_EQ(static_cast<int>(w.times_registered()), seen->registrations) << w.name();
    EXPECT_EQ(w.devices_total(), seen->capacity()) << w.name();
    EXPECT_EQ(w.devices_healthy(), seen->healthy()) << w.name();
    EXPECT_GT(w.ready_at_unix_ms(), 0) << w.name();
  }
  EXPECT_EQ(worker(*ok, "udma")->devices_healthy(), 1000u);
  auto health = runCommand({MVFCTL, "health", "--ready", "--status-socket", statusSocket()});
  EXPECT_EQ(health.exitCode, 0) << health.output;
  auto live = runCommand({MVFCTL, "health", "--status-socket", statusSocket()});
  EXPECT_EQ(live.exitCode, 0) << live.output;
  auto json = runCommand({MVFCTL, "status", "--json", "--status-socket", statusSocket()});
  auto parsed = parseJsonObject(json.output);
  ASSERT_TRUE(parsed) << json.output;
  EXPECT_EQ(parsed->fields().at("overall").string_value(), "ok");
  const auto& workers = parsed->fields().at("workers").list_value().values();
  ASSERT_EQ(workers.size(), 5);
  for (const auto& entry : workers) {
    const auto& w = entry.struct_value().fields();
    // Zeros and false are printed: a script reads 0, never null.
    EXPECT_EQ(w.at("timesRegistered").number_value(), 1) << json.output;
    EXPECT_EQ(w.at("restarts").number_value(), 0) << json.output;
    EXPECT_EQ(w.at("consecutiveFailures").number_value(), 0) << json.output;
    EXPECT_FALSE(w.at("crashLooping").bool_value()) << json.output;
    EXPECT_TRUE(w.contains("failedReason")) << json.output;
    // A message never set is left out: these workers never exited.
    EXPECT_FALSE(w.contains("lastExit")) << json.output;
  }

  // The kubelet goes: readiness follows, liveness stays.
  kubelet_.stop();
  ASSERT_TRUE(awaitStatus(
      [](const v1::SupervisorStatus& s) { return s.overall() == v1::SupervisorStatus::degraded; }));
  health = runCommand({MVFCTL, "health", "--ready", "--status-socket", statusSocket()});
  EXPECT_EQ(health.exitCode, 1);
  EXPECT_THAT(health.output, HasSubstr("not registered"));
  live = runCommand({MVFCTL, "health", "--status-socket", statusSocket()});
  EXPECT_EQ(live.exitCode, 0);
  supervisor_->signal(SIGTERM);
  supervisor_->wait(kTimeout);
  live = runCommand({MVFCTL, "health", "--status-socket", statusSocket()});
  EXPECT_EQ(live.exitCode, 1);
  EXPECT_THAT(live.output, HasSubstr("not alive"));
}

}  // namespace
}  // namespace mvf::testing
