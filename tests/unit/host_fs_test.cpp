// Host paths resolve as the host would resolve them, and never outside the host root.
#include "workers/core/host_fs.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <thread>

#include "tests/support/fake_node.h"
#include "tests/support/status.h"

namespace mvf::core {
namespace {

using testing::FakeNode;

TEST(HostFs, ResolvesRelativeAndAbsoluteSymlinksInsideTheRoot) {
  FakeNode node;
  ASSERT_OK(node.mkdirs("/sys/devices/pci0000:00/0000:00:02.0/drm/card1"));
  ASSERT_OK(
      node.symlink("/sys/class/drm/card1", "../../devices/pci0000:00/0000:00:02.0/drm/card1"));
  ASSERT_OK(
      node.symlink("/sys/bus/pci/devices/0000:00:02.0", "/sys/devices/pci0000:00/0000:00:02.0"));
  HostFs host(node.root());
  EXPECT_EQ(host.resolve("/sys/class/drm/card1", true),
            "/sys/devices/pci0000:00/0000:00:02.0/drm/card1");
  EXPECT_EQ(host.resolve("/sys/class/drm/card1/../..", true),
            "/sys/devices/pci0000:00/0000:00:02.0");
  // An absolute target starts again at the host root, not at ours.
  EXPECT_EQ(host.resolve("/sys/bus/pci/devices/0000:00:02.0/drm", true),
            "/sys/devices/pci0000:00/0000:00:02.0/drm");
  EXPECT_EQ(host.resolve("/sys/class/drm/card1", false), "/sys/class/drm/card1");
}

TEST(HostFs, ASocketIsConnectedToButASymlinkToOneNeverFollowed) {
  FakeNode node;
  auto inside = node.unixSocket("/tmp/.X11-unix/X1");
  // A socket outside the host root, listening, and a symlink to it where a display was.
  FakeNode other;
  auto outside = other.unixSocket("/tmp/X9");
  ASSERT_OK(node.symlink("/tmp/.X11-unix/X0", other.host("/tmp/X9")));
  HostFs host(node.root());
  EXPECT_TRUE(host.connectSocket("/tmp/.X11-unix/X1"));
  auto escaped = host.connectSocket("/tmp/.X11-unix/X0");
  ASSERT_FALSE(escaped) << "followed a symlink out of the host root";
  EXPECT_EQ(escaped.error().code, ENOTSOCK);
  EXPECT_EQ(escaped.error().message, "/tmp/.X11-unix/X0 is a symlink, not a socket");
  EXPECT_EQ(host.probeSocket("/tmp/.X11-unix/missing").error().code, ENOENT);
}

TEST(HostFs, DotDotNeverClimbsAboveTheRoot) {
  FakeNode node;
  ASSERT_OK(node.symlink("/dev/escape", "../../../../../../etc/passwd"));
  HostFs host(node.root());
  EXPECT_EQ(host.resolve("/dev/escape", true), "/etc/passwd");
  EXPECT_EQ(host.lstat("/dev/escape/.."), FileType::kMissing);
  EXPECT_EQ(host.local("/etc/passwd"), node.root() + "/etc/passwd");
}

TEST(HostFs, ASymlinkLoopIsUnreadableNotAHang) {
  FakeNode node;
  ASSERT_OK(node.symlink("/dev/a", "b"));
  ASSERT_OK(node.symlink("/dev/b", "a"));
  HostFs host(node.root());
  EXPECT_EQ(host.resolve("/dev/a", true), std::nullopt);
  EXPECT_EQ(host.lstat("/dev/a/x"), FileType::kUnreadable);
}

TEST(HostFs, LstatTellsFileTypesWithoutFollowingTheLastLink) {
  FakeNode node;
  ASSERT_OK(node.file("/dev/regular"));
  ASSERT_OK(node.mkdirs("/dev/dir"));
  ASSERT_OK(node.symlink("/dev/link", "regular"));
  ASSERT_OK(node.fifo("/dev/fifo"));
  HostFs host(node.root());
  EXPECT_EQ(host.lstat("/dev/regular"), FileType::kRegular);
  EXPECT_EQ(host.lstat("/dev/dir"), FileType::kDirectory);
  EXPECT_EQ(host.lstat("/dev/link"), FileType::kSymlink);
  EXPECT_EQ(host.lstat("/dev/fifo"), FileType::kFifo);
  EXPECT_EQ(host.lstat("/dev/none"), FileType::kMissing);
  EXPECT_EQ(host.lstat("/dev/regular/below"), FileType::kMissing);
  if (FakeNode::canMknod()) {
    ASSERT_OK(node.charDevice("/dev/char"));
    EXPECT_EQ(host.lstat("/dev/char"), FileType::kCharDevice);
  }
}

TEST(HostFs, TheTestsClassifierReadsAStandInAsACharacterDevice) {
  FakeNode node;
  ASSERT_OK(node.charDevice("/dev/bus/usb/001/002"));  // real as root, a stand-in otherwise
  ASSERT_OK(node.file("/dev/bus/usb/001/003"));
  HostFs host = testing::hostFsOf(node);
  EXPECT_EQ(host.lstat("/dev/bus/usb/001/002"), FileType::kCharDevice);
  EXPECT_EQ(host.lstat("/dev/bus/usb/001/003"), FileType::kRegular);
  auto types = host.openDir("/dev/bus/usb/001")->types();
  EXPECT_EQ(types["002"], FileType::kCharDevice);
  EXPECT_EQ(types["003"], FileType::kRegular);
}

TEST(HostFs, AParentDirThatIsASymlinkIsFollowedInsideTheRoot) {
  FakeNode node;
  ASSERT_OK(node.mkdirs("/real/dev"));
  ASSERT_OK(node.file("/real/dev/udmabuf"));
  ASSERT_OK(node.symlink("/dev", "/real/dev"));
  HostFs host(node.root());
  EXPECT_EQ(host.lstat("/dev/udmabuf"), FileType::kRegular);
}

// openat2's RESOLVE_IN_ROOT fails with EAGAIN when a rename or mount anywhere on the host
// races with a lookup through "..", as a symlink of sysfs does (openat2(2)); a busy node
// (image pulls, container starts) does that often. A path is then read all the same.
TEST(HostFs, ALookupRacingARenameElsewhereStillSucceeds) {
  FakeNode node;
  ASSERT_OK(node.mkdirs("/sys/devices/pci0000:00/0000:00:07.0"));
  ASSERT_OK(node.symlink("/sys/kernel/iommu_groups/7/devices/0000:00:07.0",
                         "../../../../devices/pci0000:00/0000:00:07.0"));
  ASSERT_OK(node.file("/tmp/a"));
  HostFs host(node.root());
  std::atomic<bool> stop = false;
  std::thread renamer([&] {
    std::string a = node.host("/tmp/a"), b = node.host("/tmp/b");
    while (!stop) {
      ::rename(a.c_str(), b.c_str());
      ::rename(b.c_str(), a.c_str());
    }
  });
  int failures = 0;
  std::string lastError;
  for (int i = 0; i < 20000; ++i) {
    auto opened = host.dir("/sys/kernel/iommu_groups/7/devices/0000:00:07.0");
    if (!opened) {
      ++failures;
      lastError = opened.error().message;
    }
  }
  stop = true;
  renamer.join();
  EXPECT_EQ(failures, 0) << lastError;
}

}  // namespace
}  // namespace mvf::core
