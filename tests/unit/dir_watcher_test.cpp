// inotify on device dirs: entries coming and going are reported, a dir that does not
// exist yet is watched through its nearest ancestor, and a lost-events overflow is
// reported so the worker rescans everything.
#include "base/dir_watcher.h"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "tests/support/fake_node.h"
#include "tests/support/status.h"

namespace mvf::base {
namespace {

namespace fs = std::filesystem;

// Waits for the watcher to become readable, then drains it.
std::vector<DirWatcher::Event> next(DirWatcher& watcher) {
  pollfd pfd{watcher.fd(), POLLIN, 0};
  if (::poll(&pfd, 1, 5000) != 1) return {};
  return watcher.read();
}

bool has(const std::vector<DirWatcher::Event>& events, const std::string& dir,
         const std::string& name, uint32_t mask) {
  return std::any_of(events.begin(), events.end(), [&](const DirWatcher::Event& e) {
    return e.dir == dir && e.name == name && (e.mask & mask) != 0;
  });
}

TEST(DirWatcher, ReportsEntriesCreatedAndRemoved) {
  testing::FakeNode node;
  ASSERT_OK(node.mkdirs("/dev"));
  DirWatcher watcher;
  auto started = watcher.start();
  ASSERT_TRUE(started) << started.error().message;
  auto added = watcher.update({node.host("/dev")});
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_TRUE(added.value());
  auto again = watcher.update({node.host("/dev")});
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_FALSE(again.value()) << "the same dir again is no new watch";

  ASSERT_OK(node.file("/dev/udmabuf"));
  EXPECT_TRUE(has(next(watcher), node.host("/dev"), "udmabuf", IN_CREATE));
  ASSERT_OK(node.remove("/dev/udmabuf"));
  EXPECT_TRUE(has(next(watcher), node.host("/dev"), "udmabuf", IN_DELETE));
}

TEST(DirWatcher, WatchesAMissingDirThroughItsAncestorUntilItExists) {
  testing::FakeNode node;
  DirWatcher watcher;
  auto started = watcher.start();
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(watcher.update({node.host("/dev/vfio")}));

  ASSERT_OK(node.mkdirs("/dev"));  // the root is watched: /dev appears in it
  EXPECT_TRUE(has(next(watcher), node.root(), "dev", IN_CREATE));
  ASSERT_TRUE(watcher.update({node.host("/dev/vfio")}));
  ASSERT_OK(node.mkdirs("/dev/vfio"));
  EXPECT_TRUE(has(next(watcher), node.host("/dev"), "vfio", IN_CREATE));
  ASSERT_TRUE(watcher.update({node.host("/dev/vfio")}));
  ASSERT_OK(node.file("/dev/vfio/7"));
  EXPECT_TRUE(has(next(watcher), node.host("/dev/vfio"), "7", IN_CREATE));
}

TEST(DirWatcher, ReportsAnOverflowAsAnEventWithNoDir) {
  testing::FakeNode node;
  ASSERT_OK(node.mkdirs("/dev"));
  DirWatcher watcher;
  auto started = watcher.start();
  ASSERT_TRUE(started) << started.error().message;
  ASSERT_TRUE(watcher.update({node.host("/dev")}));
  // More events than the kernel queues (fs.inotify.max_queued_events, 16384 by default).
  int limit = 16384;
  std::ifstream("/proc/sys/fs/inotify/max_queued_events") >> limit;
  for (int i = 0; i <= limit; ++i) std::ofstream(node.host("/dev/f" + std::to_string(i)));
  auto events = watcher.read();
  EXPECT_TRUE(std::any_of(events.begin(), events.end(), [](const DirWatcher::Event& e) {
    return e.dir.empty() && (e.mask & IN_Q_OVERFLOW);
  }));
}

}  // namespace
}  // namespace mvf::base
