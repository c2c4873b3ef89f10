// CDI end to end: mvf-supervisor and the five real workers over a fake node with every
// device class, writing their specs into a temp dir. Every spec validates against the
// CDI project's JSON schema; Allocate names devices the spec has; the spec follows the
// devices, survives a worker's death and the plugin's, comes back when deleted, and goes
// when its resource is no longer enabled; a bad dir or a foreign claim costs CDI, never
// the resource.
#include <signal.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/integration/supervisor_test.h"
#include "tests/support/fake_sysfs.h"

namespace mvf::testing {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

std::optional<nlohmann::json> readSpec(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  auto spec = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (spec.is_discarded()) return std::nullopt;
  return spec;
}

std::vector<std::string> deviceNames(const nlohmann::json& spec) {
  std::vector<std::string> names;
  for (const auto& device : spec["devices"]) names.push_back(device["name"]);
  return names;
}

// Polls for a condition of the spec dir: a file has no event a test could block on.
bool awaitTrue(const std::function<bool()>& done) {
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

class CdiTest : public SupervisorTest {
 protected:
  void SetUp() override {
    SupervisorTest::SetUp();
    if (IsSkipped()) return;
    ASSERT_OK(node_.remove("/dev/udmabuf"));
    ASSERT_OK(addEveryDeviceClass(node_));
    display_ = node_.unixSocket("/tmp/.X11-unix/X0");
    fs::create_directories(cdiDir());
  }

  std::string cdiDir() const { return node_.dir() + "/cdi"; }
  std::string specPath(const std::string& name) const {
    return cdiDir() + "/intel.com-" + name + ".json";
  }

  void startWithCdi(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--cdi-dir", cdiDir(), "--cdi-devices", "cri"};
    args.insert(args.end(), extra.begin(), extra.end());
    ASSERT_OK(kubelet_.start());
    startSupervisor(args);
    // Registered, in whichever mode: an exclusive one lists a device per unit.
    ASSERT_TRUE(
        kubelet_.waitFor([](const Node& node) { return allRegisteredBut(node, ""); }, kTimeout))
        << log();
  }

  // One container's response to asking `resource` for `ids`.
  v1beta1::ContainerAllocateResponse allocate(const std::string& resource,
                                              const std::vector<std::string>& ids) {
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (const auto& id : ids) container->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    auto status = kubelet_.allocate(catalog::resourceName(resource), request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response.container_responses_size() == 1 ? response.container_responses(0)
                                                    : v1beta1::ContainerAllocateResponse{};
  }

  static std::vector<std::string> cdiNames(const v1beta1::ContainerAllocateResponse& response) {
    std::vector<std::string> names;
    for (const auto& device : response.cdi_devices()) names.push_back(device.name());
    return names;
  }

  base::UniqueFd display_;
};

TEST_F(CdiTest, EverySpecWrittenValidatesAgainstTheCdiSchema) {
  startWithCdi(
      {"--cdi-node-gid", "107", "--cdi-node-file-mode", "0660", "--vfio-mode", "exclusive"});
  std::vector<std::string> command = {"/usr/bin/python3", CDI_SCHEMA_CHECK, CDI_SCHEMA_DIR};
  for (const auto& name : kWorkers) {
    ASSERT_TRUE(fs::exists(specPath(name))) << name << "\n" << log();
    command.push_back(specPath(name));
  }
  CommandResult checked = runCommand(command);
  EXPECT_EQ(checked.exitCode, 0) << checked.output;

  // The check can fail: a spec without a device name does not pass.
  std::ofstream(node_.dir() + "/broken.json")
      << R"({"cdiVersion": "0.5.0", "kind": "intel.com/udma", "devices": [{"containerEdits": {}}]})";
  checked = runCommand(
      {"/usr/bin/python3", CDI_SCHEMA_CHECK, CDI_SCHEMA_DIR, node_.dir() + "/broken.json"});
  EXPECT_EQ(checked.exitCode, 1) << checked.output;
}

TEST_F(CdiTest, AllocateNamesOnlyDevicesTheSpecOnDiskHas) {
  startWithCdi();
  for (const auto& name : kWorkers) {
    SCOPED_TRACE(name);
    auto response = allocate(name, {name + "-0"});
    auto spec = readSpec(specPath(name));
    ASSERT_TRUE(spec);
    ASSERT_THAT(cdiNames(response), Not(IsEmpty()));
    for (const auto& qualified : cdiNames(response)) {
      std::string prefix = catalog::resourceName(name) + "=";
      ASSERT_TRUE(qualified.starts_with(prefix)) << qualified;
      EXPECT_THAT(deviceNames(*spec), Contains(qualified.substr(prefix.size())));
    }
    EXPECT_EQ(fs::status(specPath(name)).permissions(), fs::perms(0644));
  }
}

TEST_F(CdiTest, TheSpecFollowsTheDevicesAndOutlivesWorkersAndThePlugin) {
  startWithCdi({"--usb-mode", "exclusive"});

  // A device plugged in: the spec has it by the time the kubelet can allocate it.
  ASSERT_OK(addUsbDevice(node_, {.portPath = "1-3", .devnum = 4, .serial = "pad-1"}));
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        auto ids = node.at("intel.com/usb").ids(true);
        return std::find(ids.begin(), ids.end(), "usb-1-3") != ids.end();
      },
      kTimeout))
      << log();
  EXPECT_THAT(deviceNames(*readSpec(specPath("usb"))), Contains("usb-1-3"));
  EXPECT_THAT(cdiNames(allocate("usb", {"usb-1-3"})),
              ::testing::ElementsAre("intel.com/usb=usb-1-3"));

  // Deleted by someone: written again.
  fs::remove(specPath("udma"));
  EXPECT_TRUE(awaitTrue([&] { return readSpec(specPath("udma")).has_value(); })) << log();

  // A worker killed: its spec stays while it is gone (a container may start meanwhile).
  auto before = readSpec(specPath("vfio"));
  auto running = status();
  ASSERT_TRUE(running);
  ASSERT_EQ(::kill(worker(*running, "vfio")->pid(), SIGKILL), 0);
  EXPECT_EQ(readSpec(specPath("vfio")), before);
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) { return node.at("intel.com/vfio").registrations == 2; }, kTimeout))
      << log();
  EXPECT_EQ(readSpec(specPath("vfio")), before);

  // The plugin stopped: every spec stays, for the containers that name them.
  supervisor_->signal(SIGTERM);
  ASSERT_TRUE(supervisor_->wait(kTimeout));
  for (const auto& name : kWorkers) EXPECT_TRUE(fs::exists(specPath(name))) << name;
}

TEST_F(CdiTest, TheSpecOfAResourceNoLongerEnabledIsRemoved) {
  std::string config = node_.dir() + "/mvf.ini";
  std::ofstream(config) << "[supervisor]\nworkers = x11,udma,vfio,igpu,usb\n";
  startWithCdi({"--config", config});
  ASSERT_TRUE(fs::exists(specPath("igpu")));

  std::ofstream(config) << "[supervisor]\nworkers = x11,udma,vfio,usb\n";
  supervisor_->signal(SIGHUP);
  // The spec goes first, then its record.
  EXPECT_TRUE(awaitTrue([&] {
    return !fs::exists(specPath("igpu")) && !fs::exists(specPath("igpu") + ".mvf-digest");
  })) << log();
  for (const auto& name : othersThan("igpu")) EXPECT_TRUE(fs::exists(specPath(name))) << name;

  // And at start, for a resource not enabled, while a file we did not write stays.
  supervisor_->signal(SIGTERM);
  ASSERT_TRUE(supervisor_->wait(kTimeout));
  std::ofstream(specPath("igpu")) << R"({"cdiVersion": "0.5.0", "kind": "vendor.com/x"})";
  std::ofstream(config) << "[supervisor]\nworkers = x11,udma,vfio\n";
  startSupervisor({"--config", config, "--cdi-dir", cdiDir(), "--cdi-devices", "cri"});
  EXPECT_TRUE(awaitTrue([&] { return !fs::exists(specPath("usb")); })) << log();
  EXPECT_TRUE(supervisor_->awaitLog("was not written by mvf-device-plugin", kTimeout)) << log();
  EXPECT_TRUE(fs::exists(specPath("igpu")));
}

// A dir that cannot hold the spec: every resource is served, without CDI names, and
// each worker says why once.
class CdiBadDir : public CdiTest, public ::testing::WithParamInterface<std::string> {};

TEST_P(CdiBadDir, EveryResourceIsServedWithoutCdiNames) {
  fs::remove(cdiDir());
  std::string expected;
  if (GetParam() == "file") {
    std::ofstream(cdiDir()) << "";
    expected = "is not a directory";
  } else if (GetParam() == "symlink") {
    fs::create_directories(node_.dir() + "/real-cdi");
    fs::create_directory_symlink(node_.dir() + "/real-cdi", cdiDir());
    expected = "is a symlink";
  } else {
    fs::create_directories(cdiDir());
    std::ofstream(cdiDir() + "/vendor.yaml") << "cdiVersion: 0.5.0\nkind: intel.com/udma\n";
    expected = "also claims CDI kind intel.com/udma";
  }
  startWithCdi();
  ASSERT_TRUE(supervisor_->awaitLog(expected, kTimeout)) << log();
  auto response = allocate("udma", {"udma-0"});
  EXPECT_THAT(cdiNames(response), IsEmpty());
  ASSERT_EQ(response.devices_size(), 1) << "the device spec stays without a CDI spec";
  EXPECT_EQ(response.devices(0).host_path(), "/dev/udmabuf");
  // Said once, however often the worker rescans.
  std::string text = log();
  size_t said = 0;
  for (size_t at = text.find(expected); at != std::string::npos; at = text.find(expected, at + 1)) {
    ++said;
  }
  EXPECT_EQ(said, GetParam() == "foreign" ? 1u : kWorkers.size()) << text;
  if (GetParam() == "foreign") {
    EXPECT_FALSE(fs::exists(specPath("udma")));
    EXPECT_THAT(cdiNames(allocate("usb", {"usb-0"})), Not(IsEmpty())) << "others keep CDI";
  }
}

INSTANTIATE_TEST_SUITE_P(Kinds, CdiBadDir, ::testing::Values("file", "symlink", "foreign"));

// A foreign spec written in place (no rename, no new entry: only its content changes) is
// seen when it is closed, not at the next resync (30 s; the wait below gives up at 5 s).
TEST_F(CdiTest, AForeignClaimWrittenInPlaceIsSeenAtOnce) {
  // udma alone, started twice: the second run finds its spec as it would write it and
  // writes nothing, so no event of its own can make it look at the dir again.
  ASSERT_OK(kubelet_.start());
  auto startUdma = [&](int run) {
    fs::remove(node_.dir() + "/supervisor.log");  // each run's own
    startSupervisor({"--workers", "udma", "--cdi-dir", cdiDir(), "--cdi-devices", "cri"});
    ASSERT_TRUE(kubelet_.waitFor(
        [run](const Node& node) {
          auto it = node.find("intel.com/udma");
          return it != node.end() && !it->second.stopped && it->second.registrations == run;
        },
        kTimeout))
        << log();
    ASSERT_THAT(cdiNames(allocate("udma", {"udma-0"})), Not(IsEmpty())) << log();
  };
  startUdma(1);
  supervisor_->signal(SIGTERM);
  ASSERT_TRUE(supervisor_->wait(kTimeout));
  std::ofstream(cdiDir() + "/vendor.json") << "";  // empty: read at start, no claim
  startUdma(2);
  EXPECT_THAT(log(), Not(HasSubstr("wrote "))) << "the spec was current";
  std::ofstream(cdiDir() + "/vendor.json", std::ios::app)
      << R"({"cdiVersion": "0.5.0", "kind": "intel.com/udma", "devices": []})";
  ASSERT_TRUE(supervisor_->awaitLog("also claims CDI kind intel.com/udma", 5s)) << log();
  EXPECT_THAT(cdiNames(allocate("udma", {"udma-0"})), IsEmpty());
}

TEST_F(CdiTest, AMissingDirIsUsedOnceItIsCreated) {
  fs::remove(cdiDir());
  startWithCdi();
  EXPECT_THAT(cdiNames(allocate("udma", {"udma-0"})), IsEmpty());
  fs::create_directories(cdiDir());
  EXPECT_TRUE(awaitTrue([&] { return fs::exists(specPath("udma")); })) << log();
  EXPECT_THAT(cdiNames(allocate("udma", {"udma-0"})),
              ::testing::ElementsAre("intel.com/udma=udmabuf"));
}

}  // namespace
}  // namespace mvf::testing
