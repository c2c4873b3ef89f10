// The real mvf-worker-igpu against the kubelet stand-in: which GPU, and its own nodes.
#include "tests/integration/worker_test.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

class IgpuWorkerTest : public WorkerTest {
 protected:
  void SetUp() override {
    WorkerTest::SetUp();
    if (IsSkipped()) return;
    // A discrete card took card0; the integrated GPU is card1.
    ASSERT_OK(addPciFunction(node_, {.address = "0000:03:00.0", .vendor = "0x10de"}));
    ASSERT_OK(addDrmCard(node_, "0000:03:00.0", 0, 128));
    ASSERT_OK(addPciFunction(node_, {.address = "0000:00:02.0", .numaNode = 0}));
    ASSERT_OK(addDrmCard(node_, "0000:00:02.0", 1, 129));
  }
};

TEST_F(IgpuWorkerTest, SharedModeHandsOutTheIntelGpusOwnNodes) {
  start(MVF_WORKER_IGPU);
  ASSERT_TRUE(counts("intel.com/igpu", 1000, 1000));
  auto containers = allocate("intel.com/igpu", {{"igpu-0"}, {"igpu-1"}});
  ASSERT_EQ(containers.size(), 2u);
  for (const auto& container : containers) {
    EXPECT_THAT(container.nodes, ElementsAre("/dev/dri/card1:rw", "/dev/dri/renderD129:rw"));
    EXPECT_TRUE(container.envs.empty());
  }
  ASSERT_OK(node_.remove("/dev/dri/renderD129"));
  ASSERT_TRUE(counts("intel.com/igpu", 1000, 0));
}

TEST_F(IgpuWorkerTest, IgpuPciMatchesInLspcisFormAndAnyCase) {
  ASSERT_OK(addPciFunction(node_, {.address = "0000:00:0a.0", .numaNode = 0}));
  ASSERT_OK(addDrmCard(node_, "0000:00:0a.0", 2, 130));
  start(MVF_WORKER_IGPU, {"--igpu-pci", "00:0A.0"});
  ASSERT_TRUE(counts("intel.com/igpu", 1000, 1000));
  auto containers = allocate("intel.com/igpu", {{"igpu-0"}});
  ASSERT_EQ(containers.size(), 1u);
  EXPECT_THAT(containers[0].nodes, ElementsAre("/dev/dri/card2:rw", "/dev/dri/renderD130:rw"));
  EXPECT_THAT(worker_->log(), HasSubstr("--igpu-pci 0000:00:0a.0 matches 0000:00:0a.0"));
}

TEST_F(IgpuWorkerTest, ExclusiveModeListsGpusByPciAddress) {
  start(MVF_WORKER_IGPU, {"--mode", "exclusive", "--igpu-vendor", "any"});
  ASSERT_TRUE(lists("intel.com/igpu", {"0000:00:02.0", "0000:03:00.0"}));
  auto containers = allocate("intel.com/igpu", {{"0000:03:00.0"}, {"0000:00:02.0"}});
  ASSERT_EQ(containers.size(), 2u);
  EXPECT_THAT(containers[0].nodes, ElementsAre("/dev/dri/card0:rw", "/dev/dri/renderD128:rw"));
  EXPECT_THAT(containers[1].nodes, ElementsAre("/dev/dri/card1:rw", "/dev/dri/renderD129:rw"));
}

}  // namespace
}  // namespace mvf::testing
