// The supervisor's rules across its workers, on a fake clock and a fake launcher: which
// workers run, SIGHUP's reload, and the shutdown's grace period.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <map>

#include "catalog/catalog.h"
#include "supervisor/supervisor.h"
#include "tests/support/fake_launcher.h"
#include "tests/support/fake_node.h"
#include "tests/support/fake_timers.h"

namespace mvf::supervisor {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeLauncher;
using testing::FakeTimers;
using ::testing::IsEmpty;
using ::testing::UnorderedElementsAre;

class SupervisorRules : public ::testing::Test {
 protected:
  SupervisorConfig config(std::vector<std::string> workers) {
    SupervisorConfig out;
    out.workers = std::move(workers);
    out.workersDir = "/opt/mvf";
    out.kubeletDir = node_.kubeletDir();
    out.gracePeriod = 5s;
    return out;
  }

  Supervisor& start(std::vector<std::string> workers) {
    supervisor_ = std::make_unique<Supervisor>(
        config(std::move(workers)),
        Supervisor::Deps{
            .timers = timers_,
            .fds = timers_,
            .launcher = launcher_,
            .random = [] { return 0.5; },
            .settingsOf = [this](const std::string& name, const WorkerSlot::Config&)
                -> base::Result<std::string> { return settings_[name]; },
            .reread = [this] { return reread_; },
            .publish = [this](const v1::SupervisorStatus& s) { status_ = s; },
            .stopped = [this] { ++stopped_; },
            .retire = [this](const std::string& name,
                             const WorkerSlot::Config&) { retired_.push_back(name); }});
    supervisor_->start();
    return *supervisor_;
  }

  void ready(const std::string& worker) {
    launcher_.say(launcher_.pidOf(worker), "ready",
                  ",\"settingsDigest\":\"" + settings_[worker] + "\"");
    timers_.pollFds();
  }

  std::vector<std::string> running() const {
    std::vector<std::string> out;
    for (const auto& w : status_.workers()) {
      if (w.pid() > 0) out.push_back(w.name());
    }
    return out;
  }

  std::vector<int> signalsTo(const std::string& worker) const {
    std::vector<int> out;
    pid_t pid = launcher_.pidOf(worker);
    for (const auto& [to, sig] : launcher_.signals) {
      if (to == pid) out.push_back(sig);
    }
    return out;
  }

  testing::FakeNode node_;
  FakeTimers timers_;
  FakeLauncher launcher_;
  std::map<std::string, std::string> settings_;
  base::Result<SupervisorConfig> reread_ = base::Error{"not set"};
  v1::SupervisorStatus status_;
  int stopped_ = 0;
  std::vector<std::string> retired_;  // workers whose CDI spec was to be removed, in order
  std::unique_ptr<Supervisor> supervisor_;
};

TEST_F(SupervisorRules, StartsTheEnabledWorkersOnlyInTheirOrder) {
  start({"usb", "udma"});
  ASSERT_EQ(launcher_.launched.size(), 2u);
  EXPECT_EQ(launcher_.launched[0].binary, "/opt/mvf/mvf-worker-udma");
  EXPECT_EQ(launcher_.launched[1].binary, "/opt/mvf/mvf-worker-usb");
  EXPECT_THAT(running(), ElementsAre("udma", "usb"));
  EXPECT_EQ(status_.overall(), v1::SupervisorStatus::degraded) << "none registered yet";
}

TEST_F(SupervisorRules, OneWorkerDyingTouchesNoOther) {
  auto& supervisor = start({"udma", "vfio"});
  ready("udma");
  ready("vfio");
  supervisor.childExited(launcher_.pidOf("vfio"), SIGSEGV);
  EXPECT_THAT(running(), ElementsAre("udma"));
  EXPECT_THAT(signalsTo("udma"), IsEmpty());
  timers_.advance(500ms);
  EXPECT_THAT(running(), ElementsAre("udma", "vfio"));
  EXPECT_EQ(launcher_.launched.size(), 3u);
}

TEST_F(SupervisorRules, ShutdownSendsSigtermThenSigkillAfterTheGracePeriod) {
  auto& supervisor = start({"x11", "udma"});
  ready("x11");
  ready("udma");
  supervisor.stopAll("Terminated");
  EXPECT_THAT(signalsTo("x11"), ElementsAre(SIGTERM));
  EXPECT_THAT(signalsTo("udma"), ElementsAre(SIGTERM));
  supervisor.childExited(launcher_.pidOf("udma"), 0);  // udma stops; x11 ignores SIGTERM
  timers_.advance(5s - 1ms);
  EXPECT_THAT(signalsTo("x11"), ElementsAre(SIGTERM));
  EXPECT_EQ(stopped_, 0);
  timers_.advance(1ms);
  EXPECT_THAT(signalsTo("x11"), ElementsAre(SIGTERM, SIGKILL));
  supervisor.childExited(launcher_.pidOf("x11"), SIGKILL);
  EXPECT_EQ(stopped_, 1);
  timers_.advance(1h);
  EXPECT_EQ(launcher_.launched.size(), 2u) << "nothing restarts during a shutdown";
}

TEST_F(SupervisorRules, ShutdownEndsAsSoonAsEveryWorkerHasStopped) {
  auto& supervisor = start({"udma"});
  ready("udma");
  supervisor.stopAll("Terminated");
  supervisor.childExited(launcher_.pidOf("udma"), 0);
  EXPECT_EQ(stopped_, 1);
  timers_.advance(5s);
  EXPECT_THAT(signalsTo("udma"), ElementsAre(SIGTERM)) << "no SIGKILL for a stopped worker";
}

TEST_F(SupervisorRules, AHardKilledWorkersStaleSocketIsRemovedAndALiveOneKept) {
  std::filesystem::create_directories(node_.kubeletDir());
  // x11.sock as a SIGKILLed worker leaves it: bound, nobody listening.
  {
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::string path = node_.kubeletDir() + "/x11.sock";
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  auto& supervisor = start({"x11"});
  supervisor.stopAll("Terminated");
  timers_.advance(5s);
  supervisor.childExited(launcher_.pidOf("x11"), SIGKILL);
  EXPECT_FALSE(std::filesystem::exists(node_.kubeletDir() + "/x11.sock"));
}

TEST_F(SupervisorRules, SighupRestartsOnlyWorkersWhoseSettingsChanged) {
  settings_ = {{"udma", "shared-count = 1000"}, {"vfio", "mode = shared"}};
  auto& supervisor = start({"udma", "vfio"});
  ready("udma");
  ready("vfio");
  settings_["vfio"] = "mode = exclusive";
  reread_ = config({"udma", "vfio"});
  supervisor.reload();
  EXPECT_THAT(signalsTo("udma"), IsEmpty());
  EXPECT_THAT(signalsTo("vfio"), ElementsAre(SIGTERM));
  supervisor.childExited(launcher_.pidOf("vfio"), 0);
  EXPECT_EQ(launcher_.launched.size(), 3u) << "vfio started again at once";
}

TEST_F(SupervisorRules, SighupStartsAddedWorkersAndStopsRemovedOnes) {
  auto& supervisor = start({"udma", "vfio"});
  reread_ = config({"vfio", "usb"});
  supervisor.reload();
  EXPECT_THAT(signalsTo("udma"), ElementsAre(SIGTERM));
  EXPECT_NE(launcher_.pidOf("usb"), 0);
  supervisor.childExited(launcher_.pidOf("udma"), 0);
  EXPECT_THAT(running(), UnorderedElementsAre("vfio", "usb"));
  timers_.advance(1h);
  EXPECT_EQ(launcher_.pidOf("udma"), 1000) << "a removed worker is not restarted";
}

TEST_F(SupervisorRules, TheSpecOfEveryWorkerNotEnabledIsRemovedAtStart) {
  start({"udma", "vfio"});
  std::vector<std::string> others;
  for (const auto& name : catalog::resources()) {
    if (name != "udma" && name != "vfio") others.push_back(name);
  }
  EXPECT_EQ(retired_, others);
}

TEST_F(SupervisorRules, AWorkerTakenOutOfTheListIsRetiredOnlyOnceItHasExited) {
  auto& supervisor = start(catalog::resources());
  ASSERT_THAT(retired_, IsEmpty());
  reread_ = config({"vfio"});
  supervisor.reload();
  EXPECT_THAT(retired_, IsEmpty()) << "still running: it could write its spec again";
  supervisor.childExited(launcher_.pidOf("udma"), 0);
  EXPECT_THAT(retired_, ElementsAre("udma"));
  supervisor.reload();
  EXPECT_THAT(retired_, ElementsAre("udma")) << "once is enough";
  // Enabled again, then taken out again: retired again.
  reread_ = config({"vfio", "udma"});
  supervisor.reload();
  reread_ = config({"vfio"});
  supervisor.reload();
  supervisor.childExited(launcher_.pidOf("udma"), 0);
  EXPECT_THAT(retired_, ElementsAre("udma", "udma"));
}

TEST_F(SupervisorRules, ShutdownAndCrashesRetireNothing) {
  auto& supervisor = start(catalog::resources());
  ready("udma");
  supervisor.childExited(launcher_.pidOf("usb"), SIGSEGV);  // enabled: restarted, not retired
  supervisor.stopAll("Terminated");
  for (const auto& name : catalog::resources()) {
    if (launcher_.pidOf(name) > 0) supervisor.childExited(launcher_.pidOf(name), 0);
  }
  timers_.advance(1h);
  EXPECT_THAT(retired_, IsEmpty()) << "a spec stays across a restart of the plugin";
}

TEST_F(SupervisorRules, SighupWithAnInvalidConfigurationChangesNothing) {
  auto& supervisor = start({"udma"});
  reread_ = base::Error{"invalid value 'x' for shared-count"};
  supervisor.reload();
  EXPECT_THAT(signalsTo("udma"), IsEmpty());
  EXPECT_THAT(running(), ElementsAre("udma"));
}

TEST_F(SupervisorRules, AnOrphanReapedAsPid1IsNoWorkersDeath) {
  auto& supervisor = start({"udma"});
  supervisor.childExited(4242, 0);
  EXPECT_THAT(running(), ElementsAre("udma"));
  EXPECT_EQ(status_.workers(0).restarts(), 0u);
}

}  // namespace
}  // namespace mvf::supervisor
