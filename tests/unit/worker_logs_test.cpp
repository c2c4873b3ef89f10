// What a worker tells the operator about its devices: why each one is not usable, once,
// and which junk it skipped, once while it stays.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "workers/core/resource.h"
#include "workers/core/scan_warnings.h"

namespace mvf::core {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

TEST(UsabilityChanges, SaysWhatBecameUnusableAndWhyWhatRecoveredAndWhatWent) {
  Problems before = {{"7", ""}, {"11", "member 0000:01:00.1 is bound to e1000e"}, {"12", ""}};
  Problems after = {{"7", "/dev/vfio/7 is missing"},
                    {"11", ""},
                    {"13", "no member of group 13 is bound to a vfio driver"}};
  EXPECT_THAT(usabilityChanges(before, after),
              ElementsAre("device 11 is usable again",
                          "device 13 is not usable: no member of "
                          "group 13 is bound to a vfio driver",
                          "device 7 is not usable: /dev/vfio/7 is missing", "device 12 is gone"));
  EXPECT_THAT(usabilityChanges(after, after), IsEmpty()) << "nothing new, nothing said";
}

TEST(UsabilityChanges, TheFirstScanSaysWhyEachUnusableDeviceIs) {
  EXPECT_THAT(usabilityChanges({}, {{"X0", ""}, {"X1", "refuses connections"}}),
              ElementsAre("device X1 is not usable: refuses connections"));
}

TEST(UsabilityChanges, ALongListEndsWithHowManyMoreThereWere) {
  Problems after;
  for (int i = 0; i < 500; ++i) after["usb-1-" + std::to_string(i)] = "node missing";
  auto lines = usabilityChanges({}, after, 10);
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_THAT(lines.back(), ::testing::EndsWith("(and 490 more changes)"));
}

TEST(ScanWarnings, SaysEachOnceWhileItRecursAndAgainWhenItComesBack) {
  ScanWarnings warnings("test");
  warnings.begin();
  EXPECT_TRUE(warnings.warn("ignoring /dev/vfio/abc: not an IOMMU group number"));
  warnings.end();
  warnings.begin();
  EXPECT_FALSE(warnings.warn("ignoring /dev/vfio/abc: not an IOMMU group number"));
  EXPECT_TRUE(warnings.warn("ignoring /dev/vfio/8: a regular file, not a character device"));
  warnings.end();
  warnings.begin();  // both gone
  warnings.end();
  warnings.begin();
  EXPECT_TRUE(warnings.warn("ignoring /dev/vfio/abc: not an IOMMU group number"));
  warnings.end();
}

}  // namespace
}  // namespace mvf::core
