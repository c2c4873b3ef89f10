// What a worker advertises for a scan, how lists are diffed, and what Allocate answers.
#include "workers/core/inventory.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "base/format.h"
#include "tests/support/log_capture.h"
#include "workers/core/plugin_service.h"

namespace mvf::core {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Inventory asks its resource to compose grants and to re-check units; scanning is the
// test's job here, and so is what a re-check finds now.
class FakeResource final : public Resource {
 public:
  FakeResource() : Resource(HostFs("/")) {}
  Scan scan() override { return {}; }
  std::vector<std::string> watchDirs() const override { return {}; }
  std::string recheck(const Unit& unit) const override {
    ++rechecks[unit.id];
    auto it = problemNow.find(unit.id);
    return it == problemNow.end() ? "" : it->second;
  }
  Grant compose(const std::vector<const Unit*>& units) const override {
    ++composes;
    return Resource::compose(units);
  }

  std::map<std::string, std::string> problemNow;  // unit ID → why it fails a re-check now
  mutable std::map<std::string, int> rechecks;    // unit ID → re-checks so far
  mutable int composes = 0;                       // grants composed so far
};

Unit unit(const std::string& id, const std::string& node, const std::string& problem = "",
          std::optional<int64_t> numa = std::nullopt) {
  Unit u{.id = id, .problem = problem, .numaNode = numa};
  u.grant.nodes.push_back({node});
  return u;
}

std::vector<std::string> ids(const v1beta1::ListAndWatchResponse& list) {
  std::vector<std::string> out;
  for (const auto& device : list.devices()) out.push_back(device.id() + ":" + device.health());
  return out;
}

std::vector<std::string> ids(const WireList& list) { return ids(parseList(list)); }

v1beta1::AllocateRequest request(std::vector<std::vector<std::string>> containers) {
  v1beta1::AllocateRequest out;
  for (const auto& container : containers) {
    auto* c = out.add_container_requests();
    for (const auto& id : container) c->add_devices_ids(id);
  }
  return out;
}

std::vector<std::string> nodes(const v1beta1::ContainerAllocateResponse& response) {
  std::vector<std::string> out;
  for (const auto& spec : response.devices()) out.push_back(spec.host_path());
  return out;
}

class InventoryTest : public ::testing::Test {
 protected:
  FakeResource resource_;
};

TEST_F(InventoryTest, SharedModeListsCountIdsAllHealthyWhileAnyUnitIsUsable) {
  Inventory inventory(resource_, "intel.com/usb", Mode::kShared, 3);
  inventory.update({.units = {unit("a", "/dev/a", "gone"), unit("b", "/dev/b")}});
  EXPECT_THAT(ids(*inventory.list()),
              ElementsAre("usb-0:Healthy", "usb-1:Healthy", "usb-2:Healthy"));
  EXPECT_EQ(inventory.counts().healthy, 3u);
}

TEST_F(InventoryTest, SharedModeListsCountIdsAllUnhealthyWhileNothingIsUsable) {
  Inventory inventory(resource_, "intel.com/usb", Mode::kShared, 2);
  inventory.update({.units = {}, .missing = "no USB device matches"});
  EXPECT_THAT(ids(*inventory.list()), ElementsAre("usb-0:Unhealthy", "usb-1:Unhealthy"));
  EXPECT_EQ(inventory.whyNothingUsable(), "no USB device matches");
  inventory.update({.units = {unit("a", "/dev/a", "bound to usbhid")}});
  EXPECT_EQ(inventory.whyNothingUsable(), "a: bound to usbhid");
}

TEST_F(InventoryTest, ExclusiveModeListsOneIdPerUnitWithItsNumaNode) {
  Inventory inventory(resource_, "intel.com/vfio", Mode::kExclusive, 1000);
  inventory.update({.units = {unit("7", "/dev/vfio/7", "", 1), unit("8", "/dev/vfio/8", "bad")}});
  auto list = parseList(*inventory.list());
  EXPECT_THAT(ids(list), ElementsAre("7:Healthy", "8:Unhealthy"));
  ASSERT_EQ(list.devices(0).topology().nodes_size(), 1);
  EXPECT_EQ(list.devices(0).topology().nodes(0).id(), 1);
  EXPECT_FALSE(list.devices(1).has_topology());
}

TEST_F(InventoryTest, ExclusiveModeKeepsAVanishedUnitListedAsUnhealthy) {
  Inventory inventory(resource_, "intel.com/vfio", Mode::kExclusive, 1000);
  inventory.update({.units = {unit("7", "/dev/vfio/7", "", 0), unit("8", "/dev/vfio/8")}});
  ListChange change = inventory.update({.units = {unit("8", "/dev/vfio/8")}});
  EXPECT_THAT(change.nowUnhealthy, ElementsAre("7"));
  EXPECT_THAT(change.removed, IsEmpty());
  auto list = parseList(*inventory.list());
  EXPECT_THAT(ids(list), ElementsAre("8:Healthy", "7:Unhealthy"));
  EXPECT_EQ(list.devices(1).topology().nodes(0).id(), 0);
  // And it comes back under the same ID.
  change = inventory.update({.units = {unit("7", "/dev/vfio/7", "", 0), unit("8", "/dev/vfio/8")}});
  EXPECT_THAT(change.nowHealthy, ElementsAre("7"));
}

TEST_F(InventoryTest, AnUnchangedScanChangesNothingAndKeepsTheSameList) {
  Inventory inventory(resource_, "intel.com/udma", Mode::kShared, 10);
  inventory.update({.units = {unit("u", "/dev/udmabuf")}});
  auto before = inventory.list();
  // A different grant with the same advertised list: nothing to tell the kubelet.
  ListChange change = inventory.update({.units = {unit("u", "/dev/other")}});
  EXPECT_TRUE(change.empty());
  EXPECT_EQ(inventory.list(), before);
}

TEST_F(InventoryTest, AFirstScanThatFoundNothingStillAdvertisesTheSharedIds) {
  Inventory inventory(resource_, "intel.com/udma", Mode::kShared, 2);
  ListChange change = inventory.update({});
  EXPECT_THAT(change.added, ElementsAre("udma-0", "udma-1"));
  EXPECT_THAT(ids(*inventory.list()), ElementsAre("udma-0:Unhealthy", "udma-1:Unhealthy"));
}

TEST(DiffLists, ReportsAddedRemovedHealthAndTopologyChanges) {
  auto device = [](v1beta1::ListAndWatchResponse& list, const std::string& id, bool healthy,
                   std::optional<int64_t> numa = std::nullopt) {
    auto* d = list.add_devices();
    d->set_id(id);
    d->set_health(healthy ? "Healthy" : "Unhealthy");
    if (numa) d->mutable_topology()->add_nodes()->set_id(*numa);
  };
  v1beta1::ListAndWatchResponse before, after;
  device(before, "same", true);
  device(before, "sick", true);
  device(before, "cured", false);
  device(before, "gone", true);
  device(before, "moved", true, 0);
  device(after, "same", true);
  device(after, "sick", false);
  device(after, "cured", true);
  device(after, "moved", true, 1);
  device(after, "new", true);
  device(after, "new", false);  // a duplicate ID counts once, as in the kubelet
  ListChange change = diffLists(before, after);
  EXPECT_THAT(change.added, ElementsAre("new"));
  EXPECT_THAT(change.removed, ElementsAre("gone"));
  EXPECT_THAT(change.nowUnhealthy, ElementsAre("sick"));
  EXPECT_THAT(change.nowHealthy, ElementsAre("cured"));
  EXPECT_THAT(change.topologyChanged, ElementsAre("moved"));
  EXPECT_EQ(change.summary(),
            "added 1 (new); removed 1 (gone); healthy 1 (cured); unhealthy 1 (sick); "
            "moved NUMA node 1 (moved)");
  EXPECT_TRUE(diffLists(after, after).empty());
}

// The side a duplicate is on does not matter: its first entry counts. Removed IDs come
// sorted, whatever order the old list had them in.
TEST(DiffLists, ADuplicateInTheOldListCountsByItsFirstEntryAndRemovedIdsAreSorted) {
  v1beta1::ListAndWatchResponse before, after;
  for (const auto& [id, health] :
       std::vector<std::pair<std::string, std::string>>{{"z", "Healthy"},
                                                        {"a", "Healthy"},
                                                        {"m", "Healthy"},
                                                        {"d", "Unhealthy"},
                                                        {"d", "Healthy"},
                                                        {"k", "Healthy"}}) {
    auto* device = before.add_devices();
    device->set_id(id);
    device->set_health(health);
  }
  auto* kept = after.add_devices();
  kept->set_id("d");
  kept->set_health("Healthy");
  ListChange change = diffLists(before, after);
  EXPECT_THAT(change.nowHealthy, ElementsAre("d")) << "by its first, Unhealthy entry";
  EXPECT_THAT(change.removed, ElementsAre("a", "k", "m", "z"));
  EXPECT_THAT(change.added, IsEmpty());
  EXPECT_THAT(change.nowUnhealthy, IsEmpty());
}

TEST_F(InventoryTest, AllocateAnswersEveryContainerRequestInOrder) {
  Inventory inventory(resource_, "intel.com/vfio", Mode::kExclusive, 1000);
  inventory.update({.units = {unit("7", "/dev/vfio/7"), unit("8", "/dev/vfio/8")}});
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(inventory.allocate(request({{"8"}, {"7", "8"}, {"7"}}), &response).ok());
  ASSERT_EQ(response.container_responses_size(), 3);
  EXPECT_THAT(nodes(response.container_responses(0)), ElementsAre("/dev/vfio/8"));
  EXPECT_THAT(nodes(response.container_responses(1)), ElementsAre("/dev/vfio/7", "/dev/vfio/8"));
  EXPECT_THAT(nodes(response.container_responses(2)), ElementsAre("/dev/vfio/7"));
}

TEST_F(InventoryTest, SharedAllocateGrantsEveryUsableUnitForAnySlot) {
  Inventory inventory(resource_, "intel.com/usb", Mode::kShared, 5);
  inventory.update(
      {.units = {unit("a", "/dev/a"), unit("b", "/dev/b", "unplugged"), unit("c", "/dev/c")}});
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(inventory.allocate(request({{"usb-4"}}), &response).ok());
  EXPECT_THAT(nodes(response.container_responses(0)), ElementsAre("/dev/a", "/dev/c"));
}

TEST_F(InventoryTest, AnEmptyRequestGetsAnEmptyResponse) {
  Inventory inventory(resource_, "intel.com/udma", Mode::kShared, 5);
  inventory.update({.units = {unit("u", "/dev/udmabuf")}});
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(inventory.allocate(request({}), &response).ok());
  EXPECT_EQ(response.container_responses_size(), 0);
  // A container request naming no device gets nothing, but still gets its response.
  ASSERT_TRUE(inventory.allocate(request({{}}), &response).ok());
  ASSERT_EQ(response.container_responses_size(), 1);
  EXPECT_EQ(response.container_responses(0).devices_size(), 0);
}

TEST_F(InventoryTest, AnIdNeverAdvertisedIsInvalidArgumentNamingIt) {
  Inventory inventory(resource_, "intel.com/udma", Mode::kShared, 5);
  inventory.update({.units = {unit("u", "/dev/udmabuf")}});
  v1beta1::AllocateResponse response;
  grpc::Status status = inventory.allocate(request({{"udma-1"}, {"udma-5"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("\"udma-5\""));
  EXPECT_THAT(status.error_message(), HasSubstr("container request 1"));
}

// Shared mode keeps no set of its IDs: an ID is advertised when it is exactly one the
// list holds, <name>-<i> for i below the count, as the list writes i.
TEST_F(InventoryTest, SharedModeTakesExactlyTheIdsItsListHolds) {
  Inventory inventory(resource_, "intel.com/udma", Mode::kShared, 11);
  auto code = [&](const std::string& id) {
    v1beta1::AllocateResponse response;
    return inventory.allocate(request({{id}}), &response).error_code();
  };
  EXPECT_EQ(code("udma-0"), grpc::StatusCode::INVALID_ARGUMENT) << "nothing advertised yet";
  inventory.update({.units = {unit("u", "/dev/udmabuf")}});
  auto list = parseList(*inventory.list());
  ASSERT_EQ(list.devices_size(), 11);
  for (const auto& device : list.devices()) {
    EXPECT_EQ(code(device.id()), grpc::StatusCode::OK) << device.id();
  }
  for (const char* id : {"udma-11", "udma-01", "udma-00", "udma-", "udma--1", "udma-+1", "udma-1 ",
                         " udma-1", "udma-1x", "udma-4294967296", "udma-99999999999999999999",
                         "udma1", "vfio-1", "UDMA-1", ""}) {
    EXPECT_EQ(code(id), grpc::StatusCode::INVALID_ARGUMENT) << '"' << id << '"';
  }
}

TEST_F(InventoryTest, AnUnknownIdIsQuotedBoundedAndEscaped) {
  Inventory inventory(resource_, "intel.com/vfio", Mode::kExclusive, 1);
  inventory.update({.units = {unit("7", "/dev/vfio/7")}});
  v1beta1::AllocateResponse response;
  std::string evil = "\x1b[2J" + std::string(100, 'x');  // a terminal escape, then junk
  grpc::Status status = inventory.allocate(request({{"7", evil}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("\"\\x1b[2Jxxx"));
  EXPECT_THAT(status.error_message(), HasSubstr("xxx...\" (104 bytes)"));
  EXPECT_EQ(status.error_message().find('\x1b'), std::string::npos);
  // A megabyte-long ID: the answer stays small enough for any client's metadata limit.
  status = inventory.allocate(request({{std::string(1 << 20, 'x')}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_LT(status.error_message().size(), 400u) << status.error_message().substr(0, 400);
}

TEST_F(InventoryTest, SharedAllocateWithNothingUsableIsFailedPreconditionSayingWhy) {
  Inventory inventory(resource_, "intel.com/udma", Mode::kShared, 5);
  inventory.update({.units = {unit("udmabuf", "/dev/udmabuf", "/dev/udmabuf does not exist")}});
  v1beta1::AllocateResponse response;
  grpc::Status status = inventory.allocate(request({{"udma-0"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("/dev/udmabuf does not exist"));
}

TEST_F(InventoryTest, ExclusiveAllocateOfAnUnusableOrVanishedUnitIsFailedPrecondition) {
  Inventory inventory(resource_, "intel.com/vfio", Mode::kExclusive, 1000);
  inventory.update({.units = {unit("7", "/dev/vfio/7"), unit("8", "/dev/vfio/8")}});
  inventory.update({.units = {unit("8", "/dev/vfio/8", "member bound to e1000e")}});
  v1beta1::AllocateResponse response;
  grpc::Status status = inventory.allocate(request({{"8"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("member bound to e1000e"));
  status = inventory.allocate(request({{"7"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("no longer present"));
}

// Allocate re-checks what it hands out at that moment: the last scan may be stale (an X
// server that died leaves its socket file, and no event).
class RecheckTest : public InventoryTest {
 protected:
  Inventory inventory(Mode mode) {
    return Inventory(resource_, "intel.com/x11", mode, 10,
                     [this](const std::string& why) { stale_.push_back(why); });
  }
  std::vector<std::string> stale_;
};

TEST_F(RecheckTest, SharedModeHandsOutOnlyTheUnitsThatPassAndReportsTheOthers) {
  auto shared = inventory(Mode::kShared);
  shared.update({.units = {unit("a", "/dev/a"), unit("b", "/dev/b"), unit("c", "/dev/c", "gone")}});
  resource_.problemNow["a"] = "/dev/a vanished";
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(shared.allocate(request({{"x11-0"}, {"x11-1"}}), &response).ok());
  EXPECT_THAT(nodes(response.container_responses(0)), ElementsAre("/dev/b"));
  EXPECT_THAT(nodes(response.container_responses(1)), ElementsAre("/dev/b"));
  EXPECT_THAT(stale_, ElementsAre("a: /dev/a vanished"));
  // Once per call, however many container requests; never a unit the scan found unusable.
  EXPECT_EQ(resource_.rechecks["a"], 1);
  EXPECT_EQ(resource_.rechecks["b"], 1);
  EXPECT_EQ(resource_.rechecks.count("c"), 0u);
}

TEST_F(RecheckTest, SharedModeWithEveryUnitFailingIsFailedPreconditionSayingWhy) {
  auto shared = inventory(Mode::kShared);
  shared.update({.units = {unit("X0", "/dev/a")}});
  resource_.problemNow["X0"] = "/tmp/.X11-unix/X0 refuses connections";
  v1beta1::AllocateResponse response;
  grpc::Status status = shared.allocate(request({{"x11-0"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("X0: /tmp/.X11-unix/X0 refuses connections"));
  EXPECT_THAT(stale_, ElementsAre("X0: /tmp/.X11-unix/X0 refuses connections"));
}

TEST_F(RecheckTest, ExclusiveModeRefusesARequestedIdThatFailsNeverHandingOutFewer) {
  auto exclusive = inventory(Mode::kExclusive);
  exclusive.update({.units = {unit("7", "/dev/vfio/7"), unit("8", "/dev/vfio/8")}});
  resource_.problemNow["8"] = "member 0000:01:00.1 is bound to e1000e";
  v1beta1::AllocateResponse response;
  grpc::Status status = exclusive.allocate(request({{"7", "8"}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("device 8"));
  EXPECT_THAT(status.error_message(), HasSubstr("bound to e1000e"));
  EXPECT_THAT(stale_, ElementsAre("8: member 0000:01:00.1 is bound to e1000e"));
  response.Clear();
  ASSERT_TRUE(exclusive.allocate(request({{"7"}}), &response).ok());
  EXPECT_THAT(nodes(response.container_responses(0)), ElementsAre("/dev/vfio/7"));
}

TEST_F(RecheckTest, NothingStaleIsReportedWhenEveryUnitPasses) {
  auto exclusive = inventory(Mode::kExclusive);
  exclusive.update({.units = {unit("7", "/dev/vfio/7")}});
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(exclusive.allocate(request({{"7"}, {"7"}}), &response).ok());
  EXPECT_TRUE(stale_.empty());
  EXPECT_EQ(resource_.rechecks["7"], 1);
}

// GetPreferredAllocation, offered in exclusive mode: must-include first, then the same
// NUMA node, then the rest.
class PreferredAllocationTest : public InventoryTest {
 protected:
  std::vector<std::string> prefer(std::vector<std::string> available,
                                  std::vector<std::string> mustInclude, int size) {
    v1beta1::PreferredAllocationRequest request;
    auto* container = request.add_container_requests();
    for (const auto& id : available) container->add_available_deviceids(id);
    for (const auto& id : mustInclude) container->add_must_include_deviceids(id);
    container->set_allocation_size(size);
    v1beta1::PreferredAllocationResponse response;
    EXPECT_TRUE(inventory_.preferredAllocation(request, &response).ok());
    std::vector<std::string> out(response.container_responses(0).deviceids().begin(),
                                 response.container_responses(0).deviceids().end());
    return out;
  }

  void SetUp() override {
    inventory_.update({.units = {unit("a", "/dev/a", "", 0), unit("b", "/dev/b", "", 1),
                                 unit("c", "/dev/c", "", 1), unit("d", "/dev/d", "", 0),
                                 unit("e", "/dev/e", "", 1), unit("f", "/dev/f")}});
  }

  Inventory inventory_{resource_, "intel.com/vfio", Mode::kExclusive, 1000};
};

TEST_F(PreferredAllocationTest, IsOfferedInExclusiveModeOnly) {
  EXPECT_TRUE(inventory_.offersPreferredAllocation());
  EXPECT_FALSE(
      Inventory(resource_, "intel.com/vfio", Mode::kShared, 10).offersPreferredAllocation());
}

TEST_F(PreferredAllocationTest, PutsMustIncludeFirstThenItsNumaNode) {
  EXPECT_THAT(prefer({"a", "b", "c", "d", "e", "f"}, {"d"}, 2), ElementsAre("d", "a"));
  EXPECT_THAT(prefer({"a", "b", "c", "d", "e", "f"}, {"c"}, 3), ElementsAre("c", "b", "e"));
  EXPECT_THAT(prefer({"a", "b", "c", "d", "e", "f"}, {"d"}, 4), ElementsAre("d", "a", "b", "c"));
}

TEST_F(PreferredAllocationTest, WithoutMustIncludePicksTheNodeWithMostAvailable) {
  EXPECT_THAT(prefer({"a", "b", "c", "d", "e", "f"}, {}, 2), ElementsAre("b", "c"));
  EXPECT_THAT(prefer({"a", "d", "f", "b"}, {}, 2), ElementsAre("a", "d"));
}

TEST_F(PreferredAllocationTest, NeverOffersMoreThanAskedOrOutsideTheAvailableSet) {
  EXPECT_THAT(prefer({"f", "a"}, {}, 5), ElementsAre("a", "f"));
  v1beta1::PreferredAllocationRequest request;
  auto* container = request.add_container_requests();
  container->add_must_include_deviceids("a");
  container->add_must_include_deviceids("b");
  container->set_allocation_size(1);
  v1beta1::PreferredAllocationResponse response;
  EXPECT_EQ(inventory_.preferredAllocation(request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

// Requests beyond what any kubelet sends are refused before any work is done: no
// re-check, no lookup, no response (workers/core/request_limits.h says where each bound
// comes from).
class RequestLimitTest : public InventoryTest {
 protected:
  void SetUp() override {
    shared_.update({.units = {unit("u", "/dev/udmabuf")}});
    exclusive_.update({.units = {unit("a", "/dev/a", "", 0)}});
  }

  static v1beta1::PreferredAllocationRequest preferred(std::vector<std::string> available,
                                                       int size) {
    v1beta1::PreferredAllocationRequest out;
    auto* container = out.add_container_requests();
    for (const auto& id : available) container->add_available_deviceids(id);
    container->set_allocation_size(size);
    return out;
  }

  Inventory shared_{resource_, "intel.com/udma", Mode::kShared, 5};
  Inventory exclusive_{resource_, "intel.com/vfio", Mode::kExclusive, 5};
};

TEST_F(RequestLimitTest, AllocateOfMoreIdsThanAnyNodeAdvertisesIsRefusedUnchecked) {
  v1beta1::AllocateResponse response;
  grpc::Status status = shared_.allocate(
      request({std::vector<std::string>(RequestLimits().ids + 1, "udma-0")}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("more than 10000 device IDs"));
  EXPECT_EQ(response.container_responses_size(), 0);
  EXPECT_EQ(resource_.rechecks.count("u"), 0u);
  // Counted over all container requests together.
  std::vector<std::vector<std::string>> halves(2, std::vector<std::string>(5001, "udma-0"));
  EXPECT_EQ(shared_.allocate(request(halves), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // At the limit it is answered.
  response.Clear();
  EXPECT_TRUE(
      shared_.allocate(request({std::vector<std::string>(10000, "udma-0")}), &response).ok());
}

TEST_F(RequestLimitTest, AllocateOfMoreContainerRequestsThanTheLimitIsRefused) {
  v1beta1::AllocateResponse response;
  std::vector<std::vector<std::string>> containers(RequestLimits().containerRequests + 1,
                                                   {"udma-0"});
  grpc::Status status = shared_.allocate(request(containers), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("65 container requests"));
  EXPECT_EQ(resource_.rechecks.count("u"), 0u);
}

// The service's audit lines: one per container request granted, one for a refused request
// whatever its size (a line per container request let one 400 kB request write 200 000).
TEST_F(RequestLimitTest, ARefusedAllocateIsOneLogLineWhateverItsSize) {
  StreamHub hub(nullptr);
  PluginService service(shared_, hub);
  testing::LogCapture log("allocate");
  v1beta1::AllocateRequest huge;
  for (int i = 0; i < 200000; ++i) huge.add_container_requests();
  v1beta1::AllocateResponse response;
  EXPECT_EQ(service.allocate(huge, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  auto lines = [&] {
    std::string text = log.text();
    return std::count(text.begin(), text.end(), '\n');
  };
  EXPECT_EQ(lines(), 1) << log.text();
  EXPECT_THAT(log.text(), HasSubstr("Allocate of 200000 container requests refused"));

  ASSERT_TRUE(service.allocate(request({{"udma-0"}, {"udma-1"}}), &response).ok());
  EXPECT_EQ(lines(), 3) << log.text();
}

TEST_F(RequestLimitTest, AnIdLongerThanAnyAdvertisedIsRefusedByItsLengthAlone) {
  v1beta1::AllocateResponse response;
  grpc::Status status = exclusive_.allocate(request({{"a", std::string(129, 'x')}}), &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("a device ID of 129 bytes"));
  EXPECT_THAT(status.error_message(), ::testing::Not(HasSubstr("xxxx")));
  EXPECT_EQ(resource_.rechecks.count("a"), 0u);
}

TEST_F(RequestLimitTest, PreferredAllocationBeyondTheLimitsIsRefused) {
  v1beta1::PreferredAllocationResponse response;
  auto code = [&](const v1beta1::PreferredAllocationRequest& request) {
    response.Clear();
    return exclusive_.preferredAllocation(request, &response).error_code();
  };
  EXPECT_EQ(code(preferred(std::vector<std::string>(10001, "a"), 1)),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(preferred({"a"}, -1)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(preferred({"a"}, 10001)), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(code(preferred({std::string(129, 'a')}, 1)), grpc::StatusCode::INVALID_ARGUMENT);
  auto many = preferred({"a"}, 1);
  for (int i = 0; i < 64; ++i) *many.add_container_requests() = many.container_requests(0);
  EXPECT_EQ(code(many), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(response.container_responses_size(), 0);
  EXPECT_EQ(code(preferred(std::vector<std::string>(10000, "a"), 10000)), grpc::StatusCode::OK);
}

// Each request handler is linear (or n log n) in its input. Sizes that would take
// minutes if any step were quadratic (300 000 squared is 9·10^10 comparisons), with the
// limits raised to let them in; the test's TIMEOUT is the only bound, against a hang.
constexpr int kHuge = 300000;

TEST_F(InventoryTest, PreferredAllocationIsLinearInItsLists) {
  Inventory inventory(resource_, "intel.com/usb", Mode::kExclusive, 1, nullptr, nullptr,
                      {.ids = kHuge});
  inventory.update({.units = {unit("usb-7", "/dev/bus/usb/001/007", "", 0)}});
  v1beta1::PreferredAllocationRequest request;
  auto* container = request.add_container_requests();
  for (int i = 0; i < kHuge; ++i) container->add_available_deviceids("usb-" + std::to_string(i));
  container->add_must_include_deviceids("usb-7");
  container->set_allocation_size(kHuge);
  v1beta1::PreferredAllocationResponse response;
  ASSERT_TRUE(inventory.preferredAllocation(request, &response).ok());
  const auto& chosen = response.container_responses(0).deviceids();
  ASSERT_EQ(chosen.size(), kHuge);
  EXPECT_EQ(chosen[0], "usb-7");
  EXPECT_EQ(chosen[1], "usb-0");
  EXPECT_EQ(chosen[kHuge - 1], "usb-" + std::to_string(kHuge - 1));
}

TEST_F(InventoryTest, ExclusiveAllocateIsLinearInItsIdsAndUnits) {
  Inventory inventory(resource_, "intel.com/vfio", Mode::kExclusive, 1, nullptr, nullptr,
                      {.ids = kHuge});
  Scan scan;
  std::vector<std::string> all;
  for (int i = 0; i < kHuge; ++i) {
    all.push_back(std::to_string(i));
    scan.units.push_back(unit(all.back(), "/dev/vfio/" + all.back()));
    scan.units.back().grant.envs.emplace_back("PCI", all.back());
  }
  inventory.update(std::move(scan));
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(inventory.allocate(request({all}), &response).ok());
  const auto& granted = response.container_responses(0);
  ASSERT_EQ(granted.devices_size(), kHuge);
  EXPECT_EQ(granted.devices(kHuge - 1).host_path(), "/dev/vfio/" + all.back());
  size_t joined = all.size() - 1;  // every ID once, between commas
  for (const auto& id : all) joined += id.size();
  EXPECT_EQ(granted.envs().at("PCI").size(), joined);
}

TEST_F(InventoryTest, SharedAllocateComposesOneGrantForAllItsContainerRequests) {
  Inventory inventory(resource_, "intel.com/usb", Mode::kShared, 100);
  inventory.update({.units = {unit("a", "/dev/a"), unit("b", "/dev/b")}});
  std::vector<std::vector<std::string>> containers;
  for (int i = 0; i < 64; ++i) containers.push_back({"usb-" + std::to_string(i)});
  v1beta1::AllocateResponse response;
  ASSERT_TRUE(inventory.allocate(request(containers), &response).ok());
  ASSERT_EQ(response.container_responses_size(), 64);
  EXPECT_THAT(nodes(response.container_responses(63)), ElementsAre("/dev/a", "/dev/b"));
  EXPECT_EQ(resource_.composes, 1);
}

// A resource whose re-check keeps no state, so any number of threads may call it.
class StatelessResource final : public Resource {
 public:
  StatelessResource() : Resource(HostFs("/")) {}
  Scan scan() override { return {}; }
  std::vector<std::string> watchDirs() const override { return {}; }
  std::string recheck(const Unit&) const override { return ""; }
};

// Allocate runs on the completion-queue thread against the latest snapshot while the main loop
// takes new scans: each answer comes whole from one scan, never a mix of two. Meant for
// ThreadSanitizer too (scripts/sanitize.sh thread), which fails on any unsynchronized
// access between update() and allocate(), list() or counts().
TEST(InventoryThreads, AllocateAgainstARescanAnswersFromOneScanWhole) {
  StatelessResource resource;
  Inventory inventory(resource, "intel.com/usb", Mode::kShared, 4);
  Scan first{.units = {unit("a0", "/dev/a0"), unit("a1", "/dev/a1")}};
  Scan second{.units = {unit("b0", "/dev/b0"), unit("b1", "/dev/b1")}};
  inventory.update(first);
  constexpr size_t kThreads = 4;
  constexpr int kCalls = 300;
  std::vector<std::thread> threads;
  std::vector<std::vector<std::string>> mixed(kThreads);  // per thread: answers that mix
  for (size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kCalls; ++i) {
        v1beta1::AllocateResponse response;
        if (!inventory.allocate(request({{"usb-" + std::to_string(i % 4)}}), &response).ok()) {
          mixed[t].push_back("refused");
          continue;
        }
        auto got = nodes(response.container_responses(0));
        bool whole = got == std::vector<std::string>{"/dev/a0", "/dev/a1"} ||
                     got == std::vector<std::string>{"/dev/b0", "/dev/b1"};
        if (!whole) mixed[t].push_back(fmt::format("{}", fmt::join(got, ",")));
        if (inventory.counts().healthy != 4) mixed[t].push_back("a count of a half-built list");
        if (parseList(*inventory.list()).devices_size() != 4) {
          mixed[t].push_back("a half-built list");
        }
      }
    });
  }
  for (int i = 0; i < 2 * kCalls; ++i) inventory.update(i % 2 == 0 ? second : first);
  for (auto& thread : threads) thread.join();
  for (size_t t = 0; t < kThreads; ++t) EXPECT_THAT(mixed[t], IsEmpty()) << "thread " << t;
}

TEST(Compose, JoinsEnvValuesAndDropsDuplicateNodesAndMounts) {
  FakeResource resource;
  Unit a{.id = "a"};
  a.grant = {.nodes = {{"/dev/vfio/vfio"}, {"/dev/vfio/7"}},
             .mounts = {{"/tmp/.X11-unix", "/tmp/.X11-unix", true}},
             .envs = {{"PCI", "0000:00:03.0"}}};
  Unit b{.id = "b"};
  b.grant = {.nodes = {{"/dev/vfio/vfio"}, {"/dev/vfio/8"}},
             .mounts = {{"/tmp/.X11-unix", "/tmp/.X11-unix", true}},
             .envs = {{"PCI", "0000:00:04.0"}, {"PCI", "0000:00:03.0"}}};
  Grant grant = resource.compose({&a, &b});
  ASSERT_EQ(grant.nodes.size(), 3u);
  EXPECT_EQ(grant.mounts.size(), 1u);
  EXPECT_THAT(grant.envs,
              ElementsAre(std::pair<std::string, std::string>("PCI", "0000:00:03.0,0000:00:04.0")));
}

}  // namespace
}  // namespace mvf::core
