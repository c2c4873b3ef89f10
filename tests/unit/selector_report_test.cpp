// When a worker tells the operator about a selector that matches nothing: once, and once
// more when it first matches.
#include "workers/core/selector_report.h"

#include <gtest/gtest.h>

namespace mvf::core {
namespace {

TEST(SelectorReport, SaysOnceThatNothingMatchesAndOnceWhenItFirstDoes) {
  SelectorReport report("test");
  const std::string selector = "--usb-match 0403:6001";
  EXPECT_EQ(report.report(selector, {}),
            "--usb-match 0403:6001 matches nothing on this node (yet)");
  EXPECT_EQ(report.report(selector, {}), "");
  EXPECT_EQ(report.report(selector, {"usb-1-3"}), "--usb-match 0403:6001 now matches usb-1-3");
  EXPECT_EQ(report.report(selector, {"usb-1-3"}), "");
  // Unplugged and plugged again: ordinary device changes, logged as such elsewhere.
  EXPECT_EQ(report.report(selector, {}), "");
  EXPECT_EQ(report.report(selector, {"usb-1-3"}), "");
}

TEST(SelectorReport, ASelectorThatMatchesAtOnceSaysWhatItMatches) {
  SelectorReport report("test");
  EXPECT_EQ(report.report("--igpu-pci 0000:00:02.0", {"0000:00:02.0"}),
            "--igpu-pci 0000:00:02.0 matches 0000:00:02.0");
  EXPECT_EQ(report.report("--display 1", {}), "--display 1 matches nothing on this node (yet)");
  EXPECT_EQ(report.report("--igpu-pci 0000:00:02.0", {"0000:00:02.0"}), "");
}

}  // namespace
}  // namespace mvf::core
