// What `mvfctl allocations` prints: the kubelet's List merged per container and resource,
// only this plugin's resources, and what a shared ID grants from the supervisor's status —
// or why that is not known.
#include "mvfctl/allocations_report.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace mvf::mvfctl {
namespace {

namespace sv1 = mvf::supervisor::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using StatusResult = base::Result<sv1::SupervisorStatus>;

// One ContainerDevices entry per ID, as the kubelet sends them (one per NUMA node, too).
void hold(::v1::ListPodResourcesResponse& list, const std::string& ns, const std::string& pod,
          const std::string& container, const std::string& resource, const std::string& id) {
  ::v1::PodResources* podEntry = nullptr;
  for (auto& p : *list.mutable_pod_resources()) {
    if (p.namespace_() == ns && p.name() == pod) podEntry = &p;
  }
  if (podEntry == nullptr) {
    podEntry = list.add_pod_resources();
    podEntry->set_namespace_(ns);
    podEntry->set_name(pod);
  }
  ::v1::ContainerResources* containerEntry = nullptr;
  for (auto& c : *podEntry->mutable_containers()) {
    if (c.name() == container) containerEntry = &c;
  }
  if (containerEntry == nullptr) {
    containerEntry = podEntry->add_containers();
    containerEntry->set_name(container);
  }
  if (resource.empty()) return;
  auto* devices = containerEntry->add_devices();
  devices->set_resource_name(resource);
  devices->add_device_ids(id);
}

// vm-a holds vfio group 7 (listed once per NUMA node) and a GPU of another plugin; vm-b
// holds two udma IDs and an x11 one; a pod with only another plugin's device, and a
// container with none.
::v1::ListPodResourcesResponse nodeList() {
  ::v1::ListPodResourcesResponse list;
  hold(list, "default", "vm-b", "compute", "intel.com/udma", "udma-10");
  hold(list, "default", "vm-a", "compute", "intel.com/vfio", "7");
  hold(list, "default", "vm-a", "compute", "nvidia.com/gpu", "GPU-1");
  hold(list, "default", "vm-a", "compute", "intel.com/vfio", "7");
  hold(list, "default", "vm-b", "compute", "intel.com/x11", "x11-0");
  hold(list, "default", "vm-b", "compute", "intel.com/udma", "udma-2");
  hold(list, "default", "vm-b", "sidecar", "", "");
  hold(list, "ml", "trainer", "main", "nvidia.com/gpu", "GPU-2");
  return list;
}

sv1::WorkerStatus* addWorker(sv1::SupervisorStatus& status, const std::string& name,
                             const std::string& mode, std::vector<std::string> units = {},
                             uint32_t total = 0) {
  auto* worker = status.add_workers();
  worker->set_name(name);
  worker->set_resource("intel.com/" + name);
  worker->set_state(sv1::WorkerStatus::running);
  worker->set_mode(mode);
  for (const auto& unit : units) worker->add_usable_units(unit);
  worker->set_usable_units_total(total ? total : static_cast<uint32_t>(units.size()));
  return worker;
}

std::vector<std::string> rows(const std::vector<ContainerAllocation>& allocations) {
  std::vector<std::string> out;
  for (const auto& a : allocations) {
    std::string ids;
    for (const auto& id : a.deviceIds) ids += (ids.empty() ? "" : ",") + id;
    out.push_back(a.podNamespace + "/" + a.pod + "/" + a.container + " " + a.worker + " " +
                  a.resource + " " + ids);
  }
  return out;
}

TEST(AllocationsOf, MergesTheKubeletsEntriesPerContainerAndResourceAndLeavesOthersOut) {
  EXPECT_THAT(rows(allocationsOf(nodeList())),
              ElementsAre("default/vm-a/compute vfio intel.com/vfio 7",
                          // the catalog's order: x11 before udma
                          "default/vm-b/compute x11 intel.com/x11 x11-0",
                          "default/vm-b/compute udma intel.com/udma udma-2,udma-10"));
  EXPECT_TRUE(allocationsOf({}).empty());
}

TEST(NaturalLess, OrdersDigitRunsAsNumbers) {
  EXPECT_TRUE(naturalLess("udma-2", "udma-10"));
  EXPECT_FALSE(naturalLess("udma-10", "udma-2"));
  EXPECT_TRUE(naturalLess("usb-1-2", "usb-1-2.3"));
  EXPECT_TRUE(naturalLess("0000:00:02.0", "0000:00:10.0"));
  EXPECT_TRUE(naturalLess("X1", "X9"));
  EXPECT_TRUE(naturalLess("a", "b"));
  EXPECT_FALSE(naturalLess("a", "a"));
  // Equal as numbers, still ordered, either way round exactly once.
  EXPECT_NE(naturalLess("x07", "x7"), naturalLess("x7", "x07"));
}

TEST(FormatAllocations, SaysWhatASharedIdGrantsAndNothingMoreForAnExclusiveOne) {
  sv1::SupervisorStatus status;
  addWorker(status, "x11", "shared", {"X0"});
  addWorker(status, "udma", "shared", {"udmabuf"});
  addWorker(status, "vfio", "exclusive", {"7", "9"});
  EXPECT_EQ(formatAllocations(allocationsOf(nodeList()), status),
            "default/vm-a/compute  intel.com/vfio  7\n"
            "default/vm-b/compute  intel.com/x11   x11-0 (shared: grants every usable device: X0)\n"
            "default/vm-b/compute  intel.com/udma  udma-2,udma-10 (shared: grants every usable "
            "device: udmabuf)\n");
}

TEST(FormatAllocations, ColumnsFollowTheLongestNames) {
  ::v1::ListPodResourcesResponse list;
  hold(list, "kube-system", "long-pod-name", "c", "intel.com/usb", "usb-0");
  hold(list, "a", "b", "c", "intel.com/igpu", "0000:00:02.0");
  sv1::SupervisorStatus status;
  addWorker(status, "usb", "exclusive");
  addWorker(status, "igpu", "exclusive");
  EXPECT_EQ(formatAllocations(allocationsOf(list), status),
            "a/b/c                        intel.com/igpu  0000:00:02.0\n"
            "kube-system/long-pod-name/c  intel.com/usb   usb-0\n");
}

TEST(FormatAllocations, ManyUnitsAreCutToTheStatusesAndCounted) {
  ::v1::ListPodResourcesResponse list;
  hold(list, "default", "vm", "c", "intel.com/usb", "usb-3");
  sv1::SupervisorStatus status;
  addWorker(status, "usb", "shared", {"usb-1-1", "usb-1-2"}, 40);
  EXPECT_THAT(
      formatAllocations(allocationsOf(list), status),
      HasSubstr("usb-3 (shared: grants every usable device: usb-1-1, usb-1-2 and 38 more)"));
  status.mutable_workers(0)->clear_usable_units();
  status.mutable_workers(0)->set_usable_units_total(0);
  EXPECT_THAT(formatAllocations(allocationsOf(list), status),
              HasSubstr("usb-3 (shared: grants no device now: none is usable)"));
}

TEST(FormatAllocations, SaysWhyTheModeIsUnknownForEachWorker) {
  ::v1::ListPodResourcesResponse list;
  hold(list, "default", "vm", "c", "intel.com/x11", "x11-0");
  hold(list, "default", "vm", "c", "intel.com/udma", "udma-0");
  hold(list, "default", "vm", "c", "intel.com/vfio", "vfio-0");
  sv1::SupervisorStatus status;
  addWorker(status, "x11", "");  // running, no mode reported (an older supervisor)
  addWorker(status, "udma", "")->set_state(sv1::WorkerStatus::backoff);  // cleared on exit
  // vfio is not enabled: not in the status at all.
  EXPECT_EQ(formatAllocations(allocationsOf(list), status),
            "default/vm/c  intel.com/x11   x11-0 (mode unknown: worker x11 has not reported it)\n"
            "default/vm/c  intel.com/udma  udma-0 (mode unknown: worker udma is backoff)\n"
            "default/vm/c  intel.com/vfio  vfio-0 (mode unknown: worker vfio is not enabled)\n");
}

TEST(FormatAllocations, WithoutTheSupervisorThePairingsStayAndTheReasonIsSaidOnce) {
  StatusResult status = base::Error{"the supervisor does not answer on /run/mvf/status.sock: x"};
  EXPECT_EQ(formatAllocations(allocationsOf(nodeList()), status),
            "default/vm-a/compute  intel.com/vfio  7 (mode unknown)\n"
            "default/vm-b/compute  intel.com/x11   x11-0 (mode unknown)\n"
            "default/vm-b/compute  intel.com/udma  udma-2,udma-10 (mode unknown)\n"
            "mode unknown: the supervisor does not answer on /run/mvf/status.sock: x\n");
}

TEST(FormatAllocations, NoneIsALineSayingSo) {
  EXPECT_EQ(formatAllocations({}, base::Error{"not asked"}),
            "no container holds a device of intel.com/x11, intel.com/udma, intel.com/vfio, "
            "intel.com/igpu or intel.com/usb\n");
}

TEST(AllocationsJson, OneObjectPerLineWithTheGrantOrWhyNot) {
  sv1::SupervisorStatus status;
  addWorker(status, "udma", "shared", {"udmabuf"});
  addWorker(status, "vfio", "exclusive", {"7"});
  auto json = nlohmann::json::parse(allocationsJson(allocationsOf(nodeList()), status));
  ASSERT_EQ(json["allocations"].size(), 3u);
  const auto& vfio = json["allocations"][0];
  EXPECT_EQ(vfio["namespace"], "default");
  EXPECT_EQ(vfio["pod"], "vm-a");
  EXPECT_EQ(vfio["container"], "compute");
  EXPECT_EQ(vfio["resource"], "intel.com/vfio");
  EXPECT_EQ(vfio["deviceIds"], nlohmann::json::array({"7"}));
  EXPECT_EQ(vfio["mode"], "exclusive");
  EXPECT_FALSE(vfio.contains("grants"));
  EXPECT_FALSE(vfio.contains("modeUnknown"));
  const auto& x11 = json["allocations"][1];
  EXPECT_EQ(x11["mode"], "");
  EXPECT_EQ(x11["modeUnknown"], "worker x11 is not enabled");
  const auto& udma = json["allocations"][2];
  EXPECT_EQ(udma["deviceIds"], nlohmann::json::array({"udma-2", "udma-10"}));
  EXPECT_EQ(udma["mode"], "shared");
  EXPECT_EQ(udma["grants"], nlohmann::json::array({"udmabuf"}));
  EXPECT_EQ(udma["grantsTotal"], 1);

  auto unreached = nlohmann::json::parse(
      allocationsJson(allocationsOf(nodeList()), base::Error{"the supervisor does not answer"}));
  EXPECT_EQ(unreached["allocations"][0]["modeUnknown"], "the supervisor does not answer");
  EXPECT_EQ(nlohmann::json::parse(allocationsJson({}, status)),
            nlohmann::json::parse(R"({"allocations": []})"));
}

}  // namespace
}  // namespace mvf::mvfctl
