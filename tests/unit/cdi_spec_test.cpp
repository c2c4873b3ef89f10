// A worker's CDI spec kept in step with its scans, and Allocate through it: every real
// resource grants the same nodes, mounts and envs through the spec as through the plain
// response; then owners, unusable units and IDs, and a spec dir that comes and goes.
#include "workers/core/cdi_spec.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "cdi/spec.h"
#include "tests/support/fake_node.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/status.h"
#include "tests/support/tmpfs.h"
#include "workers/core/inventory.h"
#include "workers/core/worker_config.h"
#include "workers/igpu/gpus.h"
#include "workers/udma/udmabuf.h"
#include "workers/usb/usb_devices.h"
#include "workers/vfio/iommu_groups.h"
#include "workers/x11/x11_displays.h"

namespace mvf::core {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

nlohmann::json readJson(const std::string& path) {
  std::ifstream in(path);
  return nlohmann::json::parse(in);
}

// What a container ends up with: container path → (host path, permissions) for nodes,
// container path → (host path, read-only) for mounts, and envs.
struct ContainerView {
  std::map<std::string, std::pair<std::string, std::string>> nodes;
  std::map<std::string, std::pair<std::string, bool>> mounts;
  std::map<std::string, std::string> envs;
  bool operator==(const ContainerView&) const = default;
};

void PrintTo(const ContainerView& view, std::ostream* out) {
  for (const auto& [path, node] : view.nodes) *out << "\n  node " << path << " ← " << node.first;
  for (const auto& [path, mount] : view.mounts)
    *out << "\n  mount " << path << " ← " << mount.first;
  for (const auto& [name, value] : view.envs) *out << "\n  env " << name << "=" << value;
}

// The plain response as a runtime without CDI applies it.
ContainerView plainView(const v1beta1::ContainerAllocateResponse& response) {
  ContainerView view;
  for (const auto& device : response.devices()) {
    view.nodes[device.container_path()] = {device.host_path(), device.permissions()};
  }
  for (const auto& mount : response.mounts()) {
    view.mounts[mount.container_path()] = {mount.host_path(), mount.read_only()};
  }
  view.envs.insert(response.envs().begin(), response.envs().end());
  return view;
}

// The CDI device names a response carries, from cdi_devices or the annotation.
std::vector<std::string> cdiNames(const v1beta1::ContainerAllocateResponse& response,
                                  const std::string& resource) {
  std::vector<std::string> names;
  for (const auto& device : response.cdi_devices()) names.push_back(device.name());
  auto annotation = response.annotations().find(cdiAnnotationKey(resource));
  if (annotation != response.annotations().end()) {
    std::istringstream list(annotation->second);
    for (std::string name; std::getline(list, name, ',');) names.push_back(name);
  }
  return names;
}

// The response as a CDI runtime applies it (pkg/cdi's ContainerEdits.Apply): the plain
// parts first, then each named device's edits from the spec, a node replacing one with
// the same path and a mount one with the same container path.
ContainerView cdiView(const v1beta1::ContainerAllocateResponse& response,
                      const std::string& resource, const nlohmann::json& spec) {
  ContainerView view = plainView(response);
  for (const std::string& qualified : cdiNames(response, resource)) {
    std::string kind = spec["kind"];
    EXPECT_TRUE(qualified.starts_with(kind + "=")) << qualified;
    std::string name = qualified.substr(kind.size() + 1);
    bool found = false;
    for (const auto& device : spec["devices"]) {
      if (device["name"] != name) continue;
      found = true;
      const auto& edits = device["containerEdits"];
      for (const auto& node : edits.value("deviceNodes", nlohmann::json::array())) {
        view.nodes[node["path"]] = {node["hostPath"], node["permissions"]};
      }
      for (const auto& mount : edits.value("mounts", nlohmann::json::array())) {
        const auto& options = mount["options"];
        bool readOnly = std::find(options.begin(), options.end(), "ro") != options.end();
        view.mounts[mount["containerPath"]] = {mount["hostPath"], readOnly};
      }
    }
    EXPECT_TRUE(found) << qualified << " is not in the spec";
  }
  return view;
}

const std::map<std::string, const ResourceSpec*>& resources() {
  static const std::map<std::string, const ResourceSpec*> all = {{"x11", &x11::kSpec},
                                                                 {"udma", &udma::kSpec},
                                                                 {"vfio", &vfio::kSpec},
                                                                 {"igpu", &igpu::kSpec},
                                                                 {"usb", &usb::kSpec}};
  return all;
}

base::Settings settingsOf(const ResourceSpec& spec, std::vector<std::string> args) {
  auto parsed = base::parseOptions(workerOptions(spec), workerContext(spec), args,
                                   [](const std::string&) { return std::nullopt; });
  EXPECT_TRUE(parsed) << parsed.error().message;
  return parsed.value().settings;
}

struct GrantCase {
  std::string resource;
  std::string mode;         // shared, exclusive
  std::string names;        // cri, annotations
  std::string deviceSpecs;  // on, off
};

std::string caseName(const ::testing::TestParamInfo<GrantCase>& info) {
  return info.param.resource + "_" + info.param.mode + "_" + info.param.names + "_specs_" +
         info.param.deviceSpecs;
}

class SameGrant : public ::testing::TestWithParam<GrantCase> {};

TEST_P(SameGrant, TheContainerGetsTheSameNodesMountsAndEnvsThroughTheSpec) {
  const GrantCase& c = GetParam();
  testing::FakeNode node;
  ASSERT_OK(testing::addEveryDeviceClass(node));
  auto display = node.unixSocket("/tmp/.X11-unix/X0");
  fs::create_directories(node.dir() + "/cdi");
  const ResourceSpec& spec = *resources().at(c.resource);
  std::vector<std::string> args = {"--cdi-dir",   node.dir() + "/cdi", "--cdi-devices",
                                   c.names,       "--device-specs",    c.deviceSpecs,
                                   "--host-root", node.root()};
  if (spec.hasExclusiveMode) args.insert(args.end(), {"--mode", c.mode});
  base::Settings settings = settingsOf(spec, args);
  auto config = makeWorkerConfig(spec, settings);
  ASSERT_OK(config);
  auto resource = spec.create(settings, testing::hostFsOf(node));
  Scan scan = resource->scan();
  ASSERT_FALSE(scan.units.empty()) << scan.missing;

  CdiSpec cdi(config.value().cdi, c.resource, resource->host());
  cdi.update(scan);
  Inventory plain(*resource, config.value().resourceName, config.value().mode, 2);
  Inventory throughCdi(*resource, config.value().resourceName, config.value().mode, 2, nullptr,
                       &cdi);
  plain.update(scan);
  throughCdi.update(scan);

  v1beta1::AllocateRequest request;
  auto* container = request.add_container_requests();
  auto listed = parseList(*plain.list());
  for (const auto& device : listed.devices()) {
    container->add_devices_ids(device.id());
    if (c.mode == "shared") break;  // every shared ID grants the whole class
  }
  v1beta1::AllocateResponse plainResponse, cdiResponse;
  ASSERT_TRUE(plain.allocate(request, &plainResponse).ok());
  ASSERT_TRUE(throughCdi.allocate(request, &cdiResponse).ok());
  const auto& before = plainResponse.container_responses(0);
  const auto& after = cdiResponse.container_responses(0);

  EXPECT_THAT(cdiNames(after, c.resource), ::testing::SizeIs(scan.units.size()));
  EXPECT_EQ(cdiView(after, c.resource, readJson(cdi.path())), plainView(before));
  EXPECT_TRUE(c.names == "cri" ? after.annotations().empty() : after.cdi_devices().empty());
  if (c.deviceSpecs == "off") {
    EXPECT_THAT(after.devices(), IsEmpty()) << "every unit is in the spec";
  } else {
    EXPECT_EQ(after.devices_size(), before.devices_size());
  }
  // Envs and mounts stay in the response: a runtime without CDI needs them too.
  EXPECT_EQ(after.envs_size(), before.envs_size());
  EXPECT_EQ(after.mounts_size(), before.mounts_size());
}

std::vector<GrantCase> grantCases() {
  std::vector<GrantCase> cases;
  for (const auto& [name, spec] : resources()) {
    for (const char* mode : {"shared", "exclusive"}) {
      if (std::string(mode) == "exclusive" && !spec->hasExclusiveMode) continue;
      for (const char* names : {"cri", "annotations"}) {
        for (const char* deviceSpecs : {"on", "off"}) {
          cases.push_back({name, mode, names, deviceSpecs});
        }
      }
    }
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(EveryResourceAndMode, SameGrant, ::testing::ValuesIn(grantCases()),
                         caseName);

// A resource whose scan the test sets.
class FakeResource final : public Resource {
 public:
  explicit FakeResource(HostFs host) : Resource(std::move(host)) {}
  Scan scan() override { return {}; }
  std::vector<std::string> watchDirs() const override { return {}; }
};

Unit unit(const std::string& id, const std::string& node, const std::string& problem = "") {
  Unit u{.id = id, .problem = problem};
  u.grant.nodes.push_back({node});
  return u;
}

class CdiSpecTest : public ::testing::Test {
 protected:
  CdiSpecTest() {
    fs::create_directories(dir());
    EXPECT_OK(node_.charDevice("/dev/a"));
    EXPECT_OK(node_.charDevice("/dev/b"));
  }
  std::string dir() const { return node_.dir() + "/cdi"; }
  std::string specPath() const { return dir() + "/intel.com-usb.json"; }
  CdiConfig config(CdiConfig::Names names = CdiConfig::Names::kCri) const {
    return {.names = names, .deviceSpecs = false, .dir = dir()};
  }
  // The CDI names and the plain device specs Allocate gives for `units` now.
  std::pair<std::vector<std::string>, std::vector<std::string>> respond(
      const CdiSpec& cdi, const std::vector<const Unit*>& units) const {
    v1beta1::ContainerAllocateResponse response;
    cdi.respond(units, resource_.compose(units), &response);
    std::vector<std::string> specs;
    for (const auto& device : response.devices()) specs.push_back(device.host_path());
    return {cdiNames(response, "usb"), specs};
  }

  testing::FakeNode node_;
  FakeResource resource_{testing::hostFsOf(node_)};
};

TEST_F(CdiSpecTest, NodesCarryTheHostOwnerAndModeUnlessConfigured) {
  ASSERT_EQ(::chmod(node_.host("/dev/a").c_str(), 0640), 0);
  CdiSpec fromHost(config(), "usb", resource_.host());
  fromHost.update({.units = {unit("a", "/dev/a")}});
  auto node = readJson(specPath())["devices"][0]["containerEdits"]["deviceNodes"][0];
  EXPECT_EQ(node["path"], "/dev/a");
  EXPECT_EQ(node["hostPath"], "/dev/a");  // as the host sees it: no host-root prefix
  EXPECT_EQ(node["uid"], ::getuid());
  EXPECT_EQ(node["gid"], ::getgid());
  EXPECT_EQ(node["fileMode"], 0640);

  CdiConfig configured = config();
  configured.nodeUid = 107;
  configured.nodeGid = 108;
  configured.nodeFileMode = 0660;
  CdiSpec set(configured, "usb", resource_.host());
  set.update({.units = {unit("a", "/dev/a")}});
  node = readJson(specPath())["devices"][0]["containerEdits"]["deviceNodes"][0];
  EXPECT_EQ(node["uid"], 107);
  EXPECT_EQ(node["gid"], 108);
  EXPECT_EQ(node["fileMode"], 0660);
  // The host's node is left as it was.
  struct stat st {};
  ASSERT_EQ(::stat(node_.host("/dev/a").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0640u);
}

TEST_F(CdiSpecTest, AnUnusableUnitStaysInTheSpecUnderItsName) {
  CdiSpec cdi(config(), "usb", resource_.host());
  cdi.update({.units = {unit("a", "/dev/a"), unit("b", "/dev/b", "bound to usbhid")}});
  auto devices = readJson(specPath())["devices"];
  ASSERT_EQ(devices.size(), 2u);
  EXPECT_EQ(devices[1]["name"], "b");
}

TEST_F(CdiSpecTest, AUnitWhoseIdIsNoCdiNameIsHandedOutAsPlainDeviceSpecs) {
  CdiSpec cdi(config(), "usb", resource_.host());
  Unit good = unit("a", "/dev/a");
  Unit bad = unit("b/../c", "/dev/b");
  cdi.update({.units = {good, bad}});
  EXPECT_EQ(readJson(specPath())["devices"].size(), 1u);
  auto [names, specs] = respond(cdi, {&good, &bad});
  EXPECT_THAT(names, ElementsAre("intel.com/usb=a"));
  EXPECT_THAT(specs, ElementsAre("/dev/b")) << "--device-specs off drops only named units";
}

TEST_F(CdiSpecTest, AUnitWhoseNodeCannotBeReadIsLeftOutUntilItCan) {
  CdiSpec cdi(config(), "usb", resource_.host());
  Unit gone = unit("c", "/dev/c");
  cdi.update({.units = {gone}});
  EXPECT_THAT(readJson(specPath())["devices"], IsEmpty());
  EXPECT_THAT(respond(cdi, {&gone}).second, ElementsAre("/dev/c"));
  ASSERT_OK(node_.charDevice("/dev/c"));
  cdi.update({.units = {gone}});
  EXPECT_THAT(respond(cdi, {&gone}).first, ElementsAre("intel.com/usb=c"));
}

TEST_F(CdiSpecTest, AMissingDirMeansNoCdiNamesUntilItIsThere) {
  fs::remove(dir());
  CdiSpec cdi(config(CdiConfig::Names::kAnnotations), "usb", resource_.host());
  Unit a = unit("a", "/dev/a");
  cdi.update({.units = {a}});
  auto [names, specs] = respond(cdi, {&a});
  EXPECT_THAT(names, IsEmpty());
  EXPECT_THAT(specs, ElementsAre("/dev/a")) << "without a spec the device specs must stay";

  fs::create_directories(dir());
  cdi.refresh();  // the worker calls it on an inotify event in (or above) the dir
  EXPECT_THAT(respond(cdi, {&a}).first, ElementsAre("intel.com/usb=a"));
  EXPECT_TRUE(fs::exists(specPath()));
}

TEST_F(CdiSpecTest, ARemovedSpecIsWrittenAgainOnRefresh) {
  CdiSpec cdi(config(), "usb", resource_.host());
  Unit a = unit("a", "/dev/a");
  cdi.update({.units = {a}});
  fs::remove(specPath());
  cdi.refresh();
  ASSERT_TRUE(fs::exists(specPath()));
  EXPECT_EQ(readJson(specPath())["devices"][0]["name"], "a");
}

TEST_F(CdiSpecTest, AForeignFileClaimingOurKindStopsCdiNamesNotTheWorker) {
  CdiSpec cdi(config(), "usb", resource_.host());
  Unit a = unit("a", "/dev/a");
  cdi.update({.units = {a}});
  std::ofstream(dir() + "/vendor.json") << R"({"cdiVersion": "0.5.0", "kind": "intel.com/usb"})";
  cdi.refresh();
  auto [names, specs] = respond(cdi, {&a});
  EXPECT_THAT(names, IsEmpty());
  EXPECT_THAT(specs, ElementsAre("/dev/a"));
  fs::remove(dir() + "/vendor.json");
  cdi.refresh();
  EXPECT_THAT(respond(cdi, {&a}).first, ElementsAre("intel.com/usb=a"));
}

TEST_F(CdiSpecTest, AFailedRewriteKeepsNamingWhatTheSpecOnDiskHas) {
  testing::Tmpfs disk(dir(), 16 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  CdiSpec cdi(config(), "usb", resource_.host());
  Unit a = unit("a", "/dev/a");
  Unit b = unit("b", "/dev/b");
  cdi.update({.units = {a}});
  std::string written = readJson(specPath()).dump();
  {
    std::ofstream filler(dir() + "/filler");
    filler << std::string(64 * 1024, 'x');  // more than fits: the disk is full
  }
  cdi.update({.units = {a, b}});
  EXPECT_EQ(readJson(specPath()).dump(), written) << "the old spec stays whole";
  auto [names, specs] = respond(cdi, {&a, &b});
  EXPECT_THAT(names, ElementsAre("intel.com/usb=a"));
  EXPECT_THAT(specs, ElementsAre("/dev/b"));
  fs::remove(dir() + "/filler");
  cdi.refresh();
  EXPECT_THAT(respond(cdi, {&a, &b}).first, ElementsAre("intel.com/usb=a", "intel.com/usb=b"));
}

// A runtime must resolve every name Allocate gives: when the spec is gone and cannot be
// written again, nothing is named.
TEST_F(CdiSpecTest, ASpecGoneAndNotWrittenAgainMeansNoNames) {
  testing::Tmpfs disk(dir(), 16 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  CdiSpec cdi(config(), "usb", resource_.host());
  Unit a = unit("a", "/dev/a");
  cdi.update({.units = {a}});
  fs::remove(specPath());  // then the disk fills up, before the worker hears of it
  { std::ofstream(dir() + "/filler") << std::string(64 * 1024, 'x'); }
  cdi.refresh();
  EXPECT_FALSE(fs::exists(specPath()));
  auto [names, specs] = respond(cdi, {&a});
  EXPECT_THAT(names, IsEmpty());
  EXPECT_THAT(specs, ElementsAre("/dev/a"));
}

TEST_F(CdiSpecTest, OffWritesNothingAndNamesNothing) {
  CdiSpec cdi(config(CdiConfig::Names::kOff), "usb", resource_.host());
  Unit a = unit("a", "/dev/a");
  cdi.update({.units = {a}});
  EXPECT_FALSE(fs::exists(specPath()));
  EXPECT_EQ(cdi.watchDir(), "");
  auto [names, specs] = respond(cdi, {&a});
  EXPECT_THAT(names, IsEmpty());
  EXPECT_THAT(specs, ElementsAre("/dev/a"));
}

}  // namespace
}  // namespace mvf::core
