// The real mvf-worker-x11 against the kubelet stand-in: displays coming, going, dying
// without an event, and what a container gets.
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <thread>

#include "tests/integration/worker_test.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class X11WorkerTest : public WorkerTest {};

TEST_F(X11WorkerTest, HandsOutTheSocketDirReadOnlyAndTheLowestDisplay) {
  auto x3 = node_.unixSocket("/tmp/.X11-unix/X3");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  start(MVF_WORKER_X11);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  auto containers = allocate("intel.com/x11", {{"x11-0"}, {"x11-5", "x11-6"}});
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& container : containers) {
    EXPECT_TRUE(container.nodes.empty());
    EXPECT_THAT(container.mounts, ElementsAre("/tmp/.X11-unix->/tmp/.X11-unix:ro"));
    EXPECT_THAT(container.envs, ElementsAre(Pair("DISPLAY", ":1")));
  }
}

TEST_F(X11WorkerTest, HealthFollowsDisplaySocketsComingAndGoing) {
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  start(MVF_WORKER_X11);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
  grpc::Status status;
  allocate("intel.com/x11", {{"x11-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no X server socket"));

  {
    auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
    ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
    // The X server goes away: its socket is removed.
  }
  ASSERT_OK(node_.remove("/tmp/.X11-unix/X0"));
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
}

TEST_F(X11WorkerTest, ASocketThatStartsListeningLaterBecomesHealthy) {
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  start(MVF_WORKER_X11);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
  // An X server creates its socket, then listens: inotify reports only the creation.
  base::UniqueFd server(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = node_.host("/tmp/.X11-unix/X0");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  ASSERT_EQ(::bind(server.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  // Seen refusing first, so only the recheck (no inotify event) can find it listening.
  ASSERT_TRUE(worker_->awaitLog("refuses connections; rechecking", kTimeout)) << worker_->log();
  ASSERT_EQ(::listen(server.get(), 4), 0);
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
}

TEST_F(X11WorkerTest, AnXServerThatDiesLeavingItsSocketIsUnhealthyAtOnce) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  // No resync during the test: only the connection the worker holds can tell.
  start(MVF_WORKER_X11, {"--resync-interval", "1h"});
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  x0.reset();  // the X server crashes; its socket file stays, and no event comes
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
  grpc::Status status;
  allocate("intel.com/x11", {{"x11-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("/tmp/.X11-unix/X0 refuses connections"));
}

TEST_F(X11WorkerTest, AllocateRechecksEachDisplayAtThatMomentAndPublishesWhatItFound) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  // No resync and no health check: only Allocate's own re-check can tell.
  start(MVF_WORKER_X11, {"--resync-interval", "1h", "--health-interval", "0"});
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  x0.reset();
  auto containers = allocate("intel.com/x11", {{"x11-0"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].envs, ElementsAre(Pair("DISPLAY", ":1"))) << "never the dead :0";
  x1.reset();
  grpc::Status status;
  allocate("intel.com/x11", {{"x11-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("X1: /tmp/.X11-unix/X1 refuses connections"));
  // What the re-check found reaches the kubelet without waiting for a resync.
  ASSERT_TRUE(counts("intel.com/x11", 1000, 0));
}

TEST_F(X11WorkerTest, AListenerThatHangsUpOnTheHeldConnectionIsPolledNotHeldInALoop) {
  // Accepts and closes at once, as any host user may have a socket do in /tmp/.X11-unix
  // (and Xorg does to a client that sends nothing): held again after each hang-up, it
  // would spin the worker.
  ASSERT_OK(node_.mkdirs("/tmp/.X11-unix"));
  auto listener = node_.unixSocket("/tmp/.X11-unix/X57");
  std::atomic<bool> stop = false;
  std::thread closer([&] {
    while (!stop) {
      pollfd pfd{listener.get(), POLLIN, 0};
      if (::poll(&pfd, 1, 20) > 0) ::close(::accept(listener.get(), nullptr, nullptr));
    }
  });
  start(MVF_WORKER_X11, {"--health-interval", "20ms"});
  EXPECT_TRUE(worker_->awaitLog("still accepts", kTimeout)) << worker_->log();
  worker_->signal(SIGHUP);  // a rescan: still usable, still not held again
  EXPECT_TRUE(worker_->awaitLog("SIGHUP: rescanning", kTimeout));
  stop = true;
  closer.join();
  std::string log = worker_->log();
  const std::string held = "holding a connection to /tmp/.X11-unix/X57";
  ASSERT_NE(log.find(held), std::string::npos) << log;
  EXPECT_EQ(log.find(held, log.find(held) + 1), std::string::npos) << "held again:\n" << log;
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
}

TEST_F(X11WorkerTest, DisplayPinsTheDisplayAndXauthorityIsMounted) {
  auto x0 = node_.unixSocket("/tmp/.X11-unix/X0");
  auto x1 = node_.unixSocket("/tmp/.X11-unix/X1");
  ASSERT_OK(node_.file("/etc/mvf/Xauthority", "cookie"));
  start(MVF_WORKER_X11, {"--display", "1", "--xauthority", "/etc/mvf/Xauthority"});
  ASSERT_TRUE(counts("intel.com/x11", 1000, 1000));
  auto containers = allocate("intel.com/x11", {{"x11-0"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].mounts, ElementsAre("/tmp/.X11-unix->/tmp/.X11-unix:ro",
                                                "/etc/mvf/Xauthority->/etc/mvf/Xauthority:ro"));
  EXPECT_THAT(containers[0].envs,
              ElementsAre(Pair("DISPLAY", ":1"), Pair("XAUTHORITY", "/etc/mvf/Xauthority")));
  EXPECT_THAT(worker_->log(), HasSubstr("--display 1 matches X1"));
}

}  // namespace
}  // namespace mvf::testing
