// Which X displays the x11 worker finds usable, and what a container gets for them.
#include "workers/x11/x11_displays.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/fake_node.h"
#include "tests/support/status.h"
#include "workers/core/inventory.h"

namespace mvf::x11 {
namespace {

using ::testing::ElementsAre;
using testing::FakeNode;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> ids(const core::Scan& scan, bool usable) {
  std::vector<std::string> out;
  for (const auto& unit : scan.units) {
    if (unit.usable() == usable) out.push_back(unit.id);
  }
  return out;
}

TEST(X11Displays, ListeningSocketsAreUsableAndStaleOnesAreNot) {
  FakeNode node;
  auto x0 = node.unixSocket("/tmp/.X11-unix/X0");
  node.unixSocket("/tmp/.X11-unix/X1", /*listen=*/false);  // a dead server's socket
  auto x12 = node.unixSocket("/tmp/.X11-unix/X12");
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "");
  core::Scan scan = displays.scan();
  EXPECT_THAT(ids(scan, true), ElementsAre("X0", "X12"));
  EXPECT_THAT(ids(scan, false), ElementsAre("X1"));
  EXPECT_THAT(scan.units[1].problem, HasSubstr("refuses connections"));
  // A socket refusing when first seen may belong to a server still starting: recheck.
  EXPECT_TRUE(scan.recheck);
}

TEST(X11Displays, IgnoresEverythingThatIsNotADisplaySocket) {
  FakeNode node;
  ASSERT_OK(node.file("/tmp/.X11-unix/X3"));    // a regular file
  ASSERT_OK(node.mkdirs("/tmp/.X11-unix/X4"));  // a directory
  auto elsewhere = node.unixSocket("/tmp/real-socket");
  ASSERT_OK(node.symlink("/tmp/.X11-unix/X5", "../real-socket"));  // a symlink to one
  auto named = node.unixSocket("/tmp/.X11-unix/Xorg");             // not X<digits>
  auto huge = node.unixSocket("/tmp/.X11-unix/X123456");           // not a display number
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "");
  core::Scan scan = displays.scan();
  EXPECT_TRUE(scan.units.empty());
  EXPECT_THAT(scan.missing, HasSubstr("no X server socket"));
}

// Clients of DISPLAY=:1 connect to X1, never to X01: a name with a leading zero is no
// display, or a container would be pointed at a socket nobody checked (found by
// fuzz/x11_displays_fuzzer.cpp).
TEST(X11Displays, ANameWithALeadingZeroIsNoDisplay) {
  FakeNode node;
  auto x0 = node.unixSocket("/tmp/.X11-unix/X0");
  auto x00 = node.unixSocket("/tmp/.X11-unix/X00");
  auto x01 = node.unixSocket("/tmp/.X11-unix/X01");
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "");
  core::Scan scan = displays.scan();
  EXPECT_THAT(ids(scan, true), ElementsAre("X0"));
  EXPECT_THAT(ids(scan, false), IsEmpty());
}

TEST(X11Displays, AMissingSocketDirMeansNoDisplay) {
  FakeNode node;
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "");
  EXPECT_TRUE(displays.scan().units.empty());
}

TEST(X11Displays, AnUnreadableSocketDirIsSaidAsSuchNotAsNoSocket) {
  FakeNode node;
  ASSERT_OK(node.notADirectory("/tmp/.X11-unix"));
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "");
  core::Scan scan = displays.scan();
  EXPECT_TRUE(scan.units.empty());
  EXPECT_EQ(scan.missing, "cannot read /tmp/.X11-unix: Not a directory");
}

TEST(X11Displays, ContainersGetTheDirReadOnlyAndTheLowestUsableDisplay) {
  FakeNode node;
  auto x2 = node.unixSocket("/tmp/.X11-unix/X2");
  auto x7 = node.unixSocket("/tmp/.X11-unix/X7");
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "");
  core::Scan scan = displays.scan();
  ASSERT_EQ(scan.units.size(), 2u);
  core::Grant grant = displays.compose({&scan.units[0], &scan.units[1]});
  EXPECT_THAT(grant.mounts, ElementsAre(core::BindMount{"/tmp/.X11-unix", "/tmp/.X11-unix", true}));
  EXPECT_THAT(grant.envs, ElementsAre(std::pair<std::string, std::string>("DISPLAY", ":2")));
  EXPECT_TRUE(grant.nodes.empty());
}

TEST(X11Displays, DisplayPinsOneDisplay) {
  FakeNode node;
  auto x0 = node.unixSocket("/tmp/.X11-unix/X0");
  auto x1 = node.unixSocket("/tmp/.X11-unix/X1");
  X11Displays pinned(core::HostFs(node.root()), 1, "");
  core::Scan scan = pinned.scan();
  EXPECT_THAT(ids(scan, true), ElementsAre("X1"));
  X11Displays absent(core::HostFs(node.root()), 5, "");
  scan = absent.scan();
  EXPECT_TRUE(scan.units.empty());
  EXPECT_THAT(scan.missing, HasSubstr("/tmp/.X11-unix/X5"));
}

TEST(X11Displays, XauthorityIsMountedReadOnlyAndSet) {
  FakeNode node;
  auto x0 = node.unixSocket("/tmp/.X11-unix/X0");
  ASSERT_OK(node.file("/run/mvf/Xauthority", "cookie"));
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "/run/mvf/Xauthority");
  core::Scan scan = displays.scan();
  ASSERT_EQ(scan.units.size(), 1u);
  ASSERT_TRUE(scan.units[0].usable());
  core::Grant grant = displays.compose({&scan.units[0]});
  EXPECT_THAT(grant.mounts,
              ElementsAre(core::BindMount{"/tmp/.X11-unix", "/tmp/.X11-unix", true},
                          core::BindMount{"/run/mvf/Xauthority", "/run/mvf/Xauthority", true}));
  EXPECT_THAT(grant.envs, ElementsAre(std::pair<std::string, std::string>("DISPLAY", ":0"),
                                      std::pair<std::string, std::string>("XAUTHORITY",
                                                                          "/run/mvf/Xauthority")));
}

TEST(X11Displays, AMissingXauthorityFileMakesEveryDisplayUnusable) {
  FakeNode node;
  auto x0 = node.unixSocket("/tmp/.X11-unix/X0");
  X11Displays displays(core::HostFs(node.root()), std::nullopt, "/run/mvf/Xauthority");
  core::Scan scan = displays.scan();
  ASSERT_EQ(scan.units.size(), 1u);
  EXPECT_THAT(scan.units[0].problem, HasSubstr("--xauthority /run/mvf/Xauthority is missing"));
}

}  // namespace
}  // namespace mvf::x11
