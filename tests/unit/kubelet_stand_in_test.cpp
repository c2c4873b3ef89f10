// The stand-in's kubelet rules: quantities as kubectl prints them, and which resource
// names a kubelet accepts.
#include "kubelet_stand_in/kubelet_stand_in.h"

#include <gtest/gtest.h>

namespace mvf::kubelet {
namespace {

TEST(FormatQuantity, UsesDecimalSuffixesOnlyForWholeMultiples) {
  EXPECT_EQ(formatQuantity(0), "0");
  EXPECT_EQ(formatQuantity(999), "999");
  EXPECT_EQ(formatQuantity(1000), "1k");
  EXPECT_EQ(formatQuantity(1500), "1500");
  EXPECT_EQ(formatQuantity(2000000), "2M");
  EXPECT_EQ(formatQuantity(7), "7");
}

TEST(IsExtendedResourceName, FollowsTheKubeletsRules) {
  for (const char* good : {"intel.com/udma", "intel.com/x11", "example.org/a_b.c-d"}) {
    EXPECT_TRUE(isExtendedResourceName(good)) << good;
  }
  for (const char* bad : {"udma", "intel.com/", "/udma", "Intel.com/udma", "kubernetes.io/gpu",
                          "requests.intel.com/udma", "intel.com/a/b", "intel.com/-udma",
                          "intel..com/udma", "intel.com/udma!"}) {
    EXPECT_FALSE(isExtendedResourceName(bad)) << bad;
  }
}

}  // namespace
}  // namespace mvf::kubelet
