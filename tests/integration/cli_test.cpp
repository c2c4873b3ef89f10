// The binaries as an operator meets them: exit codes and messages of --version,
// --check-config and bad options, and mvfctl's verbs against a running worker.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/support/fake_node.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

CommandResult worker(std::vector<std::string> args) {
  args.insert(args.begin(), MVF_WORKER_UDMA);
  return runCommand(args);
}

TEST(WorkerCli, VersionPrintsTheBinaryAndVersion) {
  auto result = worker({"--version"});
  EXPECT_EQ(result.exitCode, 0);
  EXPECT_THAT(result.output, HasSubstr("mvf-worker-udma 0."));
}

TEST(WorkerCli, CheckConfigPrintsEffectiveSettingsFromEverySource) {
  FakeNode node;
  std::string config = node.dir() + "/mvf.ini";
  std::ofstream(config) << "[global]\nlog-level = debug\n[udma]\nshared-count = 12\n";
  auto result = runCommand({"env", "MVF_HOST_ROOT=/host", MVF_WORKER_UDMA, "--check-config",
                            "--config", config, "--kubelet-dir", node.kubeletDir()});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("shared-count = 12  # [udma] in " + config));
  EXPECT_THAT(result.output, HasSubstr("log-level = debug  # [global] in " + config));
  EXPECT_THAT(result.output, HasSubstr("host-root = /host  # MVF_HOST_ROOT"));
  EXPECT_THAT(result.output, HasSubstr("kubelet-dir = " + node.kubeletDir() + "  # --kubelet-dir"));
}

TEST(WorkerCli, ABadValueExits78NamingTheOptionAndValue) {
  auto result = worker({"--check-config", "--shared-count", "lots"});
  EXPECT_EQ(result.exitCode, 78);
  EXPECT_THAT(result.output, AllOf(HasSubstr("shared-count"), HasSubstr("\"lots\"")));
  // Not only in --check-config: a worker started with it refuses to run the same way.
  result = worker({"--log-format", "xml"});
  EXPECT_EQ(result.exitCode, 78);
  EXPECT_THAT(result.output, AllOf(HasSubstr("log-format"), HasSubstr("\"xml\"")));
}

TEST(WorkerCli, AnOptionTheWorkerDoesNotHaveExits78) {
  // udma has a single mode: --mode is not one of its options.
  auto result = worker({"--mode", "exclusive"});
  EXPECT_EQ(result.exitCode, 78);
  EXPECT_THAT(result.output, HasSubstr("--mode"));
}

TEST(WorkerCli, ASocketPathTooLongForUnixSocketsExits78) {
  auto result = worker({"--check-config", "--kubelet-dir", "/" + std::string(120, 'k')});
  EXPECT_EQ(result.exitCode, 78);
  EXPECT_THAT(result.output, HasSubstr("a unix socket path must be at most 107"));
}

TEST(WorkerCli, AHostRootThatIsNoDirectoryExits78SayingSo) {
  FakeNode node;
  std::string file = node.dir() + "/not-a-dir";
  std::ofstream(file) << "x";
  for (const auto& [root, why] : std::vector<std::pair<std::string, std::string>>{
           {node.dir() + "/missing", "No such file or directory"}, {file, "not a directory"}}) {
    auto result = worker(
        {"--host-root", root, "--kubelet-dir", node.kubeletDir(), "--run-dir", node.runDir()});
    EXPECT_EQ(result.exitCode, 78) << root;
    EXPECT_THAT(result.output, HasSubstr("--host-root " + root + ": " + why)) << root;
  }
}

// mvf-supervisor's command line: every worker option reaches the worker that owns it.
CommandResult supervisor(std::vector<std::string> args, std::vector<std::string> env = {}) {
  FakeNode node;
  std::vector<std::string> argv = {"env"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {MVF_SUPERVISOR, "--kubelet-dir", node.kubeletDir(), "--run-dir",
                           node.runDir(), "--status-socket", node.runDir() + "/status.sock"});
  argv.insert(argv.end(), args.begin(), args.end());
  return runCommand(argv);
}

// The lines of one program's section of `mvf-supervisor --check-config`.
std::string section(const std::string& output, const std::string& program) {
  size_t start = output.find("# " + program);
  if (start == std::string::npos) return "";
  size_t end = output.find("\n\n# ", start + 1);  // a blank line before the next
  return output.substr(start, end == std::string::npos ? std::string::npos : end - start);
}

TEST(SupervisorCli, EveryWorkerOptionIsAFlagThatReachesTheWorkerOwningIt) {
  auto result = supervisor({"--vfio-mode", "exclusive", "--igpu-vendor", "any", "--x11-display",
                            "1", "--usb-log-level", "debug", "--check-config"});
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(section(result.output, "mvf-worker-vfio"),
              HasSubstr("mode = exclusive  # --vfio-mode"));
  EXPECT_THAT(section(result.output, "mvf-worker-igpu"),
              HasSubstr("igpu-vendor = any  # --igpu-vendor"));
  EXPECT_THAT(section(result.output, "mvf-worker-igpu"), HasSubstr("mode = shared  # default"));
  EXPECT_THAT(section(result.output, "mvf-worker-x11"), HasSubstr("display = 1  # --x11-display"));
  EXPECT_THAT(section(result.output, "mvf-worker-usb"),
              HasSubstr("log-level = debug  # --usb-log-level"));
  EXPECT_THAT(section(result.output, "mvf-worker-udma"), HasSubstr("log-level = info  # default"));
}

TEST(SupervisorCli, AMistypedWorkerOptionStopsTheSupervisorWithExit78) {
  for (bool check : {true, false}) {
    std::vector<std::string> args = {"--vfio-mod", "exclusive"};
    if (check) args.push_back("--check-config");
    auto result = supervisor(args);
    EXPECT_EQ(result.exitCode, 78) << result.output;
    EXPECT_THAT(result.output, HasSubstr("mvf-worker-vfio"));
    EXPECT_THAT(result.output, HasSubstr("vfio-mod"));
  }
}

TEST(SupervisorCli, PerWorkerEnvVarsReachOneWorkerAndAPlainOneIsRefused) {
  auto result = supervisor({"--check-config"}, {"MVF_VFIO_MODE=exclusive"});
  ASSERT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(section(result.output, "mvf-worker-vfio"),
              HasSubstr("mode = exclusive  # MVF_VFIO_MODE"));
  EXPECT_THAT(section(result.output, "mvf-worker-usb"), HasSubstr("mode = shared  # default"));
  // MVF_MODE would reach vfio, igpu and usb at once: refused by each.
  result = supervisor({"--check-config"}, {"MVF_MODE=exclusive"});
  EXPECT_EQ(result.exitCode, 78) << result.output;
  EXPECT_THAT(result.output, HasSubstr("MVF_MODE is not read"));
  EXPECT_THAT(result.output, HasSubstr("set MVF_VFIO_MODE instead"));
}

// --status-socket is the operator's path: a file already there that is no socket (a typo
// naming the config file, say) is refused and kept, where a stale socket is replaced.
TEST(SupervisorCli, AStatusSocketPathHoldingAFileIsRefusedAndTheFileKept) {
  FakeNode node;
  std::filesystem::create_directories(node.runDir());
  const std::string path = node.runDir() + "/mvf.ini";
  std::ofstream(path) << "precious\n";
  ASSERT_TRUE(std::filesystem::is_regular_file(path));
  auto result = runCommand({MVF_SUPERVISOR, "--kubelet-dir", node.kubeletDir(), "--run-dir",
                            node.runDir(), "--status-socket", path, "--metrics-address", "off"});
  EXPECT_EQ(result.exitCode, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("cannot serve the status socket: " + path +
                                       " exists and is not a socket; not removing it"));
  std::ifstream kept(path);
  std::string content;
  std::getline(kept, content);
  EXPECT_EQ(content, "precious");
}

TEST(SupervisorCli, TheSupervisorLinksNoWorkerCode) {
  auto needed = runCommand({"readelf", "-d", MVF_SUPERVISOR});
  ASSERT_EQ(needed.exitCode, 0) << needed.output;
  EXPECT_THAT(needed.output, HasSubstr("libmvf_base.so"));
  EXPECT_THAT(needed.output, Not(HasSubstr("libmvf_core.so")));
  auto symbols = runCommand({"nm", "-C", MVF_SUPERVISOR});
  ASSERT_EQ(symbols.exitCode, 0);
  for (const char* worker :
       {"mvf::core::", "mvf::x11::", "mvf::udma::", "mvf::vfio::", "mvf::igpu::", "mvf::usb::"}) {
    EXPECT_THAT(symbols.output, Not(HasSubstr(worker)));
  }
}

// The daemons load protobuf's lite runtime and never the full one (CMakeLists.txt says
// why); mvfctl, which prints protobuf's JSON mapping, loads the full one only.
TEST(SupervisorCli, TheDaemonsLinkProtobufsLiteRuntimeOnly) {
  for (const char* binary : {MVF_SUPERVISOR, MVF_WORKER_X11, MVF_WORKER_UDMA, MVF_WORKER_VFIO,
                             MVF_WORKER_IGPU, MVF_WORKER_USB}) {
    auto loaded = runCommand({"ldd", binary});
    ASSERT_EQ(loaded.exitCode, 0) << loaded.output;
    EXPECT_THAT(loaded.output, HasSubstr("libprotobuf-lite.so")) << binary;
    EXPECT_THAT(loaded.output, Not(HasSubstr("libprotobuf.so"))) << binary;
  }
  auto loaded = runCommand({"ldd", MVFCTL});
  ASSERT_EQ(loaded.exitCode, 0) << loaded.output;
  EXPECT_THAT(loaded.output, HasSubstr("libprotobuf.so"));
  EXPECT_THAT(loaded.output, Not(HasSubstr("libprotobuf-lite.so")));
}

class MvfctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FakeNode::canMknod()) GTEST_SKIP() << "needs CAP_MKNOD to build /dev/udmabuf";
    ASSERT_OK(node_.charDevice("/dev/udmabuf"));
    ASSERT_OK(kubelet_.start());
    worker_ = std::make_unique<WorkerProcess>(MVF_WORKER_UDMA, nodeArgs(node_),
                                              node_.dir() + "/worker.log");
    ASSERT_TRUE(worker_->awaitEvent("registered", 10s)) << worker_->log();
  }

  CommandResult mvfctl(std::vector<std::string> args) {
    args.insert(args.begin(), MVFCTL);
    return runCommand(args);
  }

  FakeNode node_;
  kubelet::KubeletStandIn kubelet_{node_.kubeletDir()};
  std::unique_ptr<WorkerProcess> worker_;
};

TEST_F(MvfctlTest, DevicesListsWhatTheWorkerAdvertises) {
  auto result = mvfctl({"devices", "udma", "--kubelet-dir", node_.kubeletDir()});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("1000 devices, 1000 healthy"));
  EXPECT_THAT(result.output, HasSubstr("udma-0  Healthy"));
  EXPECT_THAT(result.output, Not(HasSubstr("udma-999")));
  result = mvfctl({"devices", "--all", "--socket", node_.kubeletDir() + "/udma.sock"});
  EXPECT_THAT(result.output, HasSubstr("udma-999  Healthy"));
}

TEST_F(MvfctlTest, WatchSaysSoWhenTheWorkerEndsTheStream) {
  WorkerProcess watch(MVFCTL, {"devices", "--watch", "--socket", node_.kubeletDir() + "/udma.sock"},
                      node_.dir() + "/watch.log", false);
  ASSERT_TRUE(watch.awaitLog("1000 devices, 1000 healthy", 10s)) << watch.log();
  // The worker ends every stream before it registers with the restarted kubelet.
  ASSERT_OK(kubelet_.restart());
  auto exit = watch.wait(10s);
  ASSERT_TRUE(exit.has_value()) << watch.log();
  ASSERT_TRUE(WIFEXITED(*exit));
  EXPECT_EQ(WEXITSTATUS(*exit), 0);
  EXPECT_THAT(watch.log(), HasSubstr("the worker ended the stream"));
}

TEST_F(MvfctlTest, AllocatePrintsOneResponsePerContainerRequest) {
  auto result =
      mvfctl({"allocate", "udma", "udma-0", "udma-1,udma-2", "--kubelet-dir", node_.kubeletDir()});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("\"hostPath\": \"/dev/udmabuf\""));
  auto first = result.output.find("/dev/udmabuf");
  EXPECT_NE(result.output.find("/dev/udmabuf", first + 1), std::string::npos);
}

TEST_F(MvfctlTest, AllocateOfAnUnknownIdExits1WithTheWorkersError) {
  auto result = mvfctl({"allocate", "--socket", node_.kubeletDir() + "/udma.sock", "gpu-0"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr("failed: INVALID_ARGUMENT: unknown device ID \"gpu-0\""));
}

TEST_F(MvfctlTest, ASocketNobodyServesIsAClearError) {
  auto result = mvfctl({"devices", "--socket", node_.dir() + "/none.sock"});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr("none.sock failed"));
}

}  // namespace
}  // namespace mvf::testing
