// The device lab with CDI on: the workers' specs applied by a real CDI runtime (Debian's
// podman) and by runc from the specs' edits, for a container that runs as KubeVirt's
// uid/gid 107 — it opens every node it was allocated, with real ioctls, and no other.
// Runs in the same guest boot as lab_test.cpp, against its own supervisor.
#include "tests/lab/lab_fixture.h"

namespace mvf::testing {
namespace {

// ---- 5. CDI: a real CDI runtime applies the specs, for a VM that is not root ----

// The supervisor again, now with CDI the way the chart sets it up for KubeVirt, whose QEMU
// runs as uid/gid 107: every worker keeps its spec in /var/run/cdi (where podman looks; in
// the guest a tmpfs) and names its units in Allocate's cdi_devices, and the container's
// nodes are 107:107 0660 while the host's stay as they are (root's, 0600 in the guest).
// Each resource's container then opens every node it was allocated as uid/gid 107, with
// no capability, using it through the probe's ioctl, and is refused a node of another
// resource. The Lab suite's supervisor (no CDI) stopped when that suite ended.
const std::string kCdiDir = "/var/run/cdi";
constexpr uint32_t kVmUser = 107;  // KubeVirt's qemu user and group

class LabCdi : public Lab {
 protected:
  static void SetUpTestSuite() {
    if (inGuest()) fs::create_directories(kCdiDir);
    startLab(kBase + "/cdi", {"--cdi-dir", kCdiDir, "--cdi-devices", "cri", "--cdi-node-uid",
                              std::to_string(kVmUser), "--cdi-node-gid", std::to_string(kVmUser),
                              "--cdi-node-file-mode", "0660"});
  }
  static void TearDownTestSuite() { stopLab(); }

  // One container per resource: the unit it asks for, and a node on the host that it was
  // not allocated (another resource's, or another USB device's).
  struct Case {
    std::string resource;
    std::string id;
    std::string notAllocated;
  };
  static std::vector<Case> cases() {
    auto groups = realVfioGroups();
    auto usb = realUsbDevices();
    EXPECT_FALSE(groups.empty());
    EXPECT_GE(usb.size(), 2u);
    if (groups.empty() || usb.size() < 2) return {};
    std::string gpu = fs::read_symlink("/sys/class/drm/card0/device").filename();
    EXPECT_TRUE(lists("intel.com/vfio", groups)) << join(listed("intel.com/vfio"));
    EXPECT_TRUE(lists("intel.com/usb", usb)) << join(listed("intel.com/usb"));
    std::string otherUsb = allocate("intel.com/usb", {usb[1]}).devices(0).host_path();
    return {{"intel.com/udma", "udma-0", "/dev/dri/renderD128"},
            {"intel.com/vfio", groups[0], "/dev/udmabuf"},
            {"intel.com/igpu", gpu, "/dev/udmabuf"},
            {"intel.com/usb", usb[0], otherUsb},
            {"intel.com/x11", "x11-0", "/dev/dri/renderD128"}};
  }

  // Allocate, once the worker has written its spec and names the unit as a CDI device
  // (the first scan may still be in flight when the worker registers).
  static v1beta1::ContainerAllocateResponse allocateCdi(const Case& c) {
    v1beta1::ContainerAllocateResponse response;
    // x11 registers once its Xvfb accepts connections, which takes a moment under TCG.
    EXPECT_TRUE(kubelet_->waitFor(
        [&](const Node& node) {
          auto it = node.find(c.resource);
          return it != node.end() && !it->second.stopped && it->second.healthy() > 0;
        },
        kTimeout))
        << c.resource << "\n"
        << kubelet_->describeNode() << supervisor_->log();
    bool named = until([&] {
      response = allocate(c.resource, {c.id});
      return response.cdi_devices_size() > 0;
    });
    EXPECT_TRUE(named) << c.resource << " names no CDI device\n" << supervisor_->log();
    return response;
  }

  static std::vector<std::string> cdiNames(const v1beta1::ContainerAllocateResponse& response) {
    std::vector<std::string> names;
    for (const auto& device : response.cdi_devices()) names.push_back(device.name());
    return names;
  }

  // The probe's checks for what `response` grants, as uid/gid 107 would use it: every
  // node there, 107:107 0660, opening read-write, and used through its ioctl; the X
  // display through the read-only socket dir.
  static std::vector<std::string> checksFor(const v1beta1::ContainerAllocateResponse& response) {
    std::string user = std::to_string(kVmUser);
    std::vector<std::string> checks = {"user:" + user + ":" + user};
    for (const auto& spec : response.devices()) {
      const std::string& path = spec.container_path();
      checks.push_back("node:" + path + "@" + user + ":" + user + ":0660");
      if (path.starts_with("/dev/dri/")) checks.push_back("drm:" + path);
      if (path == "/dev/udmabuf") checks.push_back("udmabuf:" + path);
      if (path.starts_with("/dev/vfio/") && path != "/dev/vfio/vfio") {
        checks.push_back("vfio-dma:" + path);  // opens /dev/vfio/vfio too
      }
      if (path.starts_with("/dev/bus/usb/")) checks.push_back("usb:" + path);
    }
    for (const auto& mount : response.mounts()) {
      if (mount.container_path() == "/tmp/.X11-unix") {
        checks.push_back("x11:" + response.envs().at("DISPLAY").substr(1));
        checks.push_back("readonly:/tmp/.X11-unix");
      }
    }
    return checks;
  }

  // Owner and mode of each host node `response` names: a CDI runtime must leave them be.
  static std::string hostNodes(const v1beta1::ContainerAllocateResponse& response) {
    std::vector<std::string> nodes;
    for (const auto& spec : response.devices()) {
      struct stat st {};
      ::stat(spec.host_path().c_str(), &st);
      char mode[8];
      std::snprintf(mode, sizeof(mode), "%04o", st.st_mode & 07777);
      nodes.push_back(spec.host_path() + " " + std::to_string(st.st_uid) + ":" +
                      std::to_string(st.st_gid) + " " + mode);
    }
    return join(nodes);
  }

  // Debian's podman (4.3.1) running the probe as uid/gid 107 with the CDI devices
  // `names` and nothing else: `--device intel.com/udma=udmabuf` is resolved from the specs
  // in /var/run/cdi by the CDI package podman is built with. No systemd in the guest:
  // cgroupfs, a file for events. RLIMIT_MEMLOCK unlimited for the VFIO DMA map, as
  // KubeVirt's launcher raises it. `deniedDir` (bind-mounted at /denied, device nodes
  // allowed by the mount) holds nodes podman was not asked for.
  static CommandResult inPodman(const std::vector<std::string>& names,
                                const std::vector<std::string>& checks,
                                const std::string& deniedDir) {
    std::string user = std::to_string(kVmUser) + ":" + std::to_string(kVmUser);
    std::vector<std::string> argv = {"podman",
                                     "--storage-driver=vfs",
                                     "--root=" + kBase + "/podman/root",
                                     "--runroot=" + kBase + "/podman/run",
                                     "run",
                                     "--rm",
                                     "--cgroup-manager=cgroupfs",
                                     "--events-backend=file",
                                     "--network=none",
                                     "--ulimit=nofile=1024:1024",
                                     "--ulimit=nproc=1024:1024",
                                     "--ulimit=memlock=-1:-1",
                                     "--user=" + user,
                                     "--volume=" + deniedDir + ":/denied:ro,dev"};
    for (const auto& name : names) {
      argv.push_back("--device");
      argv.push_back(name);
    }
    argv.insert(argv.end(), {"--rootfs", probeRootfs(kBase + "/podman-rootfs"), "/probe"});
    argv.insert(argv.end(), checks.begin(), checks.end());
    return runCommand(argv);
  }

  // A dir on a fresh tmpfs (no nodev) with a copy of the host node `path`: same type,
  // major and minor, root's but mode 0666, so that only the devices cgroup can refuse it.
  static std::string deniedCopy(const std::string& path, const std::string& dir) {
    fs::create_directories(dir);
    if (runCommand({"mountpoint", "-q", dir}).exitCode != 0) {
      EXPECT_EQ(runCommand({"mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", dir}).exitCode, 0);
    }
    std::string copy = dir + "/" + fs::path(path).filename().string();
    struct stat st {};
    EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
    ::unlink(copy.c_str());
    EXPECT_EQ(::mknod(copy.c_str(), S_IFCHR | 0666, st.st_rdev), 0) << copy;
    ::chmod(copy.c_str(), 0666);  // past the umask
    return copy;
  }
};

TEST_F(LabCdi, EachWorkerWritesOneSpecAndNamesItsUnitInAllocate) {
  for (const auto& c : cases()) {
    auto response = allocateCdi(c);
    auto names = cdiNames(response);
    const std::string& kind = c.resource;
    // Exclusive modes hand out units by their own ID; udma and x11 share their one unit.
    std::string unit = kind == "intel.com/udma"  ? "udmabuf"
                       : kind == "intel.com/x11" ? "X99"
                                                 : c.id;
    EXPECT_THAT(names, ::testing::ElementsAre(kind + "=" + unit)) << kind;
    std::string file = kCdiDir + "/" + kind.substr(0, kind.find('/')) + "-" +
                       kind.substr(kind.find('/') + 1) + ".json";
    EXPECT_TRUE(fs::is_regular_file(file)) << file;
    say("cdi: " + c.resource + " " + c.id + " -> cdi_devices [" + join(names) + "], spec " + file);
  }
  // One spec per worker, and nothing else a runtime would read.
  std::vector<std::string> specs;
  for (const auto& name : listDir(kCdiDir)) {
    if (name.ends_with(".json") || name.ends_with(".yaml")) specs.push_back(name);
  }
  EXPECT_THAT(specs, ::testing::ElementsAre("intel.com-igpu.json", "intel.com-udma.json",
                                            "intel.com-usb.json", "intel.com-vfio.json",
                                            "intel.com-x11.json"));
}

TEST_F(LabCdi, PodmanGivesAUid107ContainerItsCdiDevicesAndNoOther) {
  ASSERT_EQ(runCommand({"podman", "--version"}).exitCode, 0)
      << "podman is missing: .ci/run installs it for the lab stage";
  for (const auto& c : cases()) {
    auto response = allocateCdi(c);
    auto names = cdiNames(response);
    if (names.empty()) continue;
    std::string before = hostNodes(response);
    std::string denied = deniedCopy(
        c.notAllocated, kBase + "/denied-" + c.resource.substr(c.resource.find('/') + 1));
    auto checks = checksFor(response);
    checks.push_back("denied:/denied/" + fs::path(denied).filename().string());
    checks.push_back("absent:" + c.notAllocated);
    auto result = inPodman(names, checks, fs::path(denied).parent_path());
    say("podman --device " + join(names, " --device ") + " as uid/gid 107" +
        (before.empty() ? "" : " (host: " + before + ")") + ":\n" + result.output);
    EXPECT_EQ(result.exitCode, 0) << c.resource << "\n" << result.output;
    EXPECT_EQ(hostNodes(response), before) << "the host's nodes changed";
  }
}

TEST_F(LabCdi, RuncGivesAUid107ContainerWhatTheCdiEditsSayAndNoOther) {
  for (const auto& c : cases()) {
    auto response = allocateCdi(c);
    auto names = cdiNames(response);
    if (names.empty()) continue;
    std::string error;
    ContainerGrant grant = grantOfCdi(kCdiDir, names, &error);
    ASSERT_EQ(error, "") << c.resource;
    // The spec grants what the plain response does: the same nodes and mounts.
    std::set<std::string> specNodes, plainNodes, specMounts, plainMounts;
    for (const auto& node : grant.nodes) specNodes.insert(node.path + ":" + node.access);
    for (const auto& spec : response.devices())
      plainNodes.insert(spec.container_path() + ":" + spec.permissions());
    for (const auto& mount : grant.mounts) specMounts.insert(mount.containerPath);
    for (const auto& mount : response.mounts()) plainMounts.insert(mount.container_path());
    EXPECT_EQ(specNodes, plainNodes) << c.resource;
    EXPECT_EQ(specMounts, plainMounts) << c.resource;
    // The kubelet still passes the response's envs (PCI_RESOURCE_*, DISPLAY) itself.
    grant.env.insert(response.envs().begin(), response.envs().end());
    grant.uid = grant.gid = kVmUser;
    grant.memlock = std::numeric_limits<uint64_t>::max();  // unlimited
    grant.deny({c.notAllocated});
    auto checks = checksFor(response);
    checks.push_back("denied:" + c.notAllocated);
    auto result = inContainer(grant, checks);
    say("runc from the CDI edits of " + join(names) + ", as uid/gid 107:\n" + result.output);
    EXPECT_EQ(result.exitCode, 0) << c.resource << "\n" << result.output;
  }
}

// The control for the VFIO check above: without the raised RLIMIT_MEMLOCK, the same
// container as uid 107 (no CAP_IPC_LOCK) cannot pin 16 MiB for DMA.
TEST_F(LabCdi, AVfioDmaMapAsUid107NeedsTheRaisedMemlockLimit) {
  auto groups = realVfioGroups();
  ASSERT_FALSE(groups.empty());
  auto response = allocateCdi({"intel.com/vfio", groups[0], ""});
  std::string error;
  ContainerGrant grant = grantOfCdi(kCdiDir, cdiNames(response), &error);
  ASSERT_EQ(error, "");
  grant.uid = grant.gid = kVmUser;
  grant.memlock = 8 << 20;  // the kernel's default
  auto result = inContainer(grant, {"vfio-dma:/dev/vfio/" + groups[0]});
  say("runc vfio as uid/gid 107 with RLIMIT_MEMLOCK 8 MiB:\n" + result.output);
  EXPECT_NE(result.exitCode, 0);
  // ENOMEM: the pinned pages are over RLIMIT_MEMLOCK (vfio_iommu_type1's locked_vm check).
  EXPECT_THAT(result.output,
              HasSubstr("FAIL /dev/vfio/" + groups[0] +
                        ": VFIO_IOMMU_MAP_DMA of 16 MiB at IOVA 0: " + std::strerror(ENOMEM)));
  // It failed at the map, and only there: the group was attached as uid 107.
  EXPECT_THAT(result.output,
              HasSubstr("ok   /dev/vfio/" + groups[0] + ": attached to a container"));
}

}  // namespace
}  // namespace mvf::testing
