// How a worker learns, between scans, of health changes no filesystem event reports: a
// held connection's hang-up, or a polled re-check that disagrees with the last scan.
#include "workers/core/health_check.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/socket.h>

#include "base/unix_socket.h"
#include "tests/support/fake_node.h"
#include "tests/support/status.h"

namespace mvf::core {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using testing::FakeNode;
using ::testing::HasSubstr;

// Safety net only: each test's loop stops as soon as what it awaits happens.
constexpr auto kTimeout = 10s;

class FakeResource final : public Resource {
 public:
  explicit FakeResource(const FakeNode& node) : Resource(HostFs(node.root())) {}
  Scan scan() override { return {}; }
  std::vector<std::string> watchDirs() const override { return {}; }
  std::string recheck(const Unit& unit) const override {
    ++rechecks;
    auto it = problemNow.find(unit.id);
    return it == problemNow.end() ? "" : it->second;
  }
  std::map<std::string, std::string> problemNow;
  mutable int rechecks = 0;
};

class HealthCheckTest : public ::testing::Test {
 protected:
  // Runs the loop until the health check reports a change, or kTimeout.
  void runUntilChanged() {
    auto safety = loop_.after(kTimeout, [this] { loop_.stop(); });
    ASSERT_TRUE(loop_.run());
    loop_.cancel(safety);
  }

  static Unit display(const std::string& id, const std::string& socket) {
    return Unit{.id = id, .heldSocket = socket};
  }

  FakeNode node_;
  FakeResource resource_{node_};
  base::EventLoop loop_;
  std::vector<std::string> changes_;
  HealthCheck::Changed record_ = [this](const std::string& why) {
    changes_.push_back(why);
    loop_.stop();
  };
};

TEST_F(HealthCheckTest, AListenerThatDiesHangsUpTheHeldConnectionAtOnce) {
  auto listener = node_.unixSocket("/tmp/.X11-unix/X0");
  HealthCheck health(loop_, resource_, 500ms, record_);
  health.update({.units = {display("X0", "/tmp/.X11-unix/X0")}});
  EXPECT_EQ(health.heldConnections(), 1u);
  EXPECT_EQ(health.polledUnits(), 0u) << "a held socket costs no polling";
  // The X server dies and leaves its socket file behind: no filesystem event.
  listener.reset();
  runUntilChanged();
  EXPECT_THAT(changes_, ElementsAre(HasSubstr("X0: the listener on /tmp/.X11-unix/X0 hung up")));
  EXPECT_EQ(health.heldConnections(), 0u);
  EXPECT_EQ(resource_.rechecks, 0);
}

TEST_F(HealthCheckTest, OnlyUsableUnitsWithASocketAreHeldAndStaleOnesAreReleased) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  HealthCheck health(loop_, resource_, 500ms, record_);
  Unit refusing = display("X1", "/tmp/.X11-unix/X1");
  refusing.problem = "refuses connections";
  health.update({.units = {display("X0", "/tmp/.X11-unix/X0"), refusing, Unit{.id = "udmabuf"}}});
  EXPECT_EQ(health.heldConnections(), 1u);
  health.update({.units = {}});
  EXPECT_EQ(health.heldConnections(), 0u);
}

TEST_F(HealthCheckTest, APolledUnitWhoseRecheckDisagreesIsNewsEitherWay) {
  HealthCheck health(loop_, resource_, 10ms, record_);
  Unit group{.id = "11", .healthPolled = true};
  health.update({.units = {group}});
  EXPECT_EQ(health.polledUnits(), 1u);
  resource_.problemNow["11"] = "member 0000:01:00.1 is bound to e1000e";
  runUntilChanged();
  EXPECT_THAT(changes_, ElementsAre("11: member 0000:01:00.1 is bound to e1000e"));

  // The rescan found it unusable; the member goes back, and that is news too.
  group.problem = "member 0000:01:00.1 is bound to e1000e";
  health.update({.units = {group}});
  resource_.problemNow.clear();
  runUntilChanged();
  EXPECT_EQ(changes_.back(), "11 became usable");
}

TEST_F(HealthCheckTest, NothingIsPolledWhileNoUnitNeedsIt) {
  HealthCheck health(loop_, resource_, 1ms, record_);
  health.update({.units = {Unit{.id = "udmabuf"}}});
  EXPECT_EQ(health.polledUnits(), 0u);
  // Had a timer been armed, it would re-check within a millisecond; none runs.
  loop_.after(50ms, [this] { loop_.stop(); });
  ASSERT_TRUE(loop_.run());
  EXPECT_EQ(resource_.rechecks, 0);
  EXPECT_TRUE(changes_.empty());
}

TEST_F(HealthCheckTest, ASocketWhoseBacklogIsFullIsPolledInstead) {
  // A listener that accepts nothing and whose backlog holds one connection, taken here.
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  auto listener = base::listenUnix(node_.host("/tmp/.X11-unix/X0"));
  ASSERT_TRUE(listener) << listener.error().message;
  ASSERT_EQ(::listen(listener.value().get(), 0), 0);
  auto first = base::connectUnix(node_.host("/tmp/.X11-unix/X0"));
  ASSERT_TRUE(first) << first.error().message;

  HealthCheck health(loop_, resource_, 10ms, record_);
  health.update({.units = {display("X0", "/tmp/.X11-unix/X0")}});
  EXPECT_EQ(health.heldConnections(), 0u);
  EXPECT_EQ(health.polledUnits(), 1u);
  resource_.problemNow["X0"] = "/tmp/.X11-unix/X0 refuses connections";
  runUntilChanged();
  EXPECT_THAT(changes_, ElementsAre("X0: /tmp/.X11-unix/X0 refuses connections"));
}

TEST_F(HealthCheckTest, AListenerThatHangsUpWhileAliveIsPolledUntilItGoes) {
  // Xorg drops a client that never sends its handshake; this listener does it at once.
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  auto listener = base::listenUnix(node_.host("/tmp/.X11-unix/X0"));
  ASSERT_TRUE(listener);
  HealthCheck health(loop_, resource_, 10ms, record_);
  Unit x0 = display("X0", "/tmp/.X11-unix/X0");
  health.update({.units = {x0}});
  ASSERT_EQ(health.heldConnections(), 1u);
  base::UniqueFd accepted(::accept(listener.value().get(), nullptr, nullptr));
  accepted.reset();  // hung up on, by a listener that still accepts
  runUntilChanged();
  EXPECT_THAT(changes_, ElementsAre(HasSubstr("hung up")));
  // The rescan finds the display usable: held again, it would hang up again, forever.
  health.update({.units = {x0}});
  EXPECT_EQ(health.heldConnections(), 0u);
  EXPECT_EQ(health.polledUnits(), 1u);
  // Its server restarts: the socket goes (a scan without it), and the new one is held.
  listener.value().reset();
  ASSERT_OK(node_.remove("/tmp/.X11-unix/X0"));
  health.update({.units = {}});
  auto restarted = node_.unixSocket("/tmp/.X11-unix/X0");
  health.update({.units = {x0}});
  EXPECT_EQ(health.heldConnections(), 1u);
  EXPECT_EQ(health.polledUnits(), 0u);
}

TEST_F(HealthCheckTest, AtMost64ConnectionsAreHeldAndTheOtherDisplaysArePolled) {
  std::vector<base::UniqueFd> listeners;
  Scan scan;
  for (int i = 0; i < 70; ++i) {
    std::string path = "/tmp/.X11-unix/X" + std::to_string(i);
    listeners.push_back(node_.unixSocket(path));
    scan.units.push_back(display("X" + std::to_string(i), path));
  }
  HealthCheck health(loop_, resource_, 500ms, record_);
  health.update(scan);
  EXPECT_EQ(health.heldConnections(), 64u);
  EXPECT_EQ(health.polledUnits(), 6u);
}

TEST_F(HealthCheckTest, AZeroIntervalTurnsTheCheckOff) {
  auto listener = node_.unixSocket("/tmp/.X11-unix/X0");
  HealthCheck health(loop_, resource_, 0ms, record_);
  health.update(
      {.units = {display("X0", "/tmp/.X11-unix/X0"), Unit{.id = "11", .healthPolled = true}}});
  EXPECT_EQ(health.heldConnections(), 0u);
  EXPECT_EQ(health.polledUnits(), 0u);
}

}  // namespace
}  // namespace mvf::core
