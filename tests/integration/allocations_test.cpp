// `mvfctl allocations` as an operator meets it: the pairings the kubelet's pod-resources API
// reports for this plugin's resources after real Allocates, what a shared ID grants (from
// the supervisor), and its errors within their timeout — the socket missing, a socket that
// never answers, one nobody listens on, bad options. Also `mvfctl kubelet`'s commands, and
// `mvfctl health` against a status socket that never answers.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <thread>

#include "kubelet_stand_in/kubelet_stand_in.h"
#include "proto/supervisor.grpc.pb.h"
#include "tests/support/fake_node.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using ::testing::Not;
using Clock = std::chrono::steady_clock;

constexpr auto kTimeout = 10s;

CommandResult mvfctl(std::vector<std::string> args) {
  args.insert(args.begin(), MVFCTL);
  return runCommand(args);
}

// A node with every device class, the kubelet stand-in serving pod-resources, and workers
// or the supervisor run on it.
class AllocationsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FakeNode::canMknod()) GTEST_SKIP() << "needs CAP_MKNOD to build device nodes";
    ASSERT_OK(addEveryDeviceClass(node_));
    ASSERT_OK(kubelet_.start());
  }

  std::string podResourcesSocket() const { return node_.dir() + "/pr/kubelet.sock"; }
  std::string statusSocket() const { return node_.runDir() + "/status.sock"; }

  // The udma worker (shared) and the vfio worker in exclusive mode, on their own.
  void startWorkers() {
    udma_ = std::make_unique<WorkerProcess>(MVF_WORKER_UDMA, nodeArgs(node_),
                                            node_.dir() + "/udma.log");
    auto vfioArgs = nodeArgs(node_);
    vfioArgs.insert(vfioArgs.end(), {"--mode", "exclusive"});
    vfio_ = std::make_unique<WorkerProcess>(MVF_WORKER_VFIO, vfioArgs, node_.dir() + "/vfio.log");
    ASSERT_TRUE(udma_->awaitEvent("registered", kTimeout)) << udma_->log();
    ASSERT_TRUE(vfio_->awaitEvent("registered", kTimeout)) << vfio_->log();
    ASSERT_TRUE(listed());
  }

  // The same two under the supervisor, whose status then says each worker's mode.
  void startSupervisor() {
    std::vector<std::string> args = {"--workers",   "udma",      "--workers",       "vfio",
                                     "--vfio-mode", "exclusive", "--status-socket", statusSocket()};
    auto common = nodeArgs(node_);
    args.insert(args.end(), common.begin(), common.end());
    supervisor_ = std::make_unique<WorkerProcess>(MVF_SUPERVISOR, args,
                                                  node_.dir() + "/supervisor.log", false);
    ASSERT_TRUE(listed()) << supervisor_->log();
  }

  // Both resources registered with their devices.
  bool listed() {
    return kubelet_.waitFor(
        [](const kubelet::Node& node) {
          for (const char* name : {"intel.com/udma", "intel.com/vfio"}) {
            auto it = node.find(name);
            if (it == node.end() || it->second.stopped || it->second.healthy() == 0) return false;
          }
          return true;
        },
        kTimeout);
  }

  grpc::Status allocate(const std::string& resource, const std::vector<std::string>& ids,
                        const kubelet::PodRef& pod) {
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (const auto& id : ids) container->add_devices_ids(id);
    v1beta1::AllocateResponse response;
    return kubelet_.allocate(resource, request, &response, pod);
  }

  // Two pods: vm-a holds vfio group 7, vm-b's compute container udma-0; vm-c's Allocate
  // fails and leaves nothing.
  void allocateForTwoPods() {
    grpc::Status status = allocate("intel.com/vfio", {"7"}, {"default", "vm-a", "compute"});
    ASSERT_TRUE(status.ok()) << status.error_message();
    status = allocate("intel.com/udma", {"udma-0"}, {"default", "vm-b", "compute"});
    ASSERT_TRUE(status.ok()) << status.error_message();
    EXPECT_FALSE(allocate("intel.com/vfio", {"99"}, {"default", "vm-c", "compute"}).ok());
  }

  CommandResult allocations(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"allocations", "--pod-resources-socket", podResourcesSocket(),
                                     "--status-socket", statusSocket()};
    args.insert(args.end(), extra.begin(), extra.end());
    return mvfctl(args);
  }

  FakeNode node_;
  kubelet::KubeletStandIn kubelet_{node_.kubeletDir(),
                                   {.podResourcesSocket = podResourcesSocket()}};
  std::unique_ptr<WorkerProcess> udma_;
  std::unique_ptr<WorkerProcess> vfio_;
  std::unique_ptr<WorkerProcess> supervisor_;
};

TEST_F(AllocationsTest, ListsWhichContainerHoldsWhichIdsAndWithoutTheSupervisorSaysModeUnknown) {
  ASSERT_NO_FATAL_FAILURE(startWorkers());
  ASSERT_NO_FATAL_FAILURE(allocateForTwoPods());
  auto result = allocations();
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("default/vm-a/compute  intel.com/vfio  7 (mode unknown)\n"
                                       "default/vm-b/compute  intel.com/udma  udma-0 (mode "
                                       "unknown)\n"
                                       "mode unknown: the supervisor does not answer on " +
                                       statusSocket()));
  EXPECT_THAT(result.output, Not(HasSubstr("vm-c")));

  result = allocations({"--json"});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  auto json = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result.output;
  ASSERT_EQ(json["allocations"].size(), 2u) << result.output;
  EXPECT_EQ(json["allocations"][1]["pod"], "vm-b");
  EXPECT_EQ(json["allocations"][1]["deviceIds"], nlohmann::json::array({"udma-0"}));
  EXPECT_EQ(json["allocations"][1]["mode"], "");
}

// Needs the supervisor to report each worker's mode and usable units (WorkerStatus fields
// 17-19, filled from the workers' `devices` events): until then the mode reads unknown.
TEST_F(AllocationsTest, WithTheSupervisorASharedIdSaysWhatItGrantsNow) {
  ASSERT_NO_FATAL_FAILURE(startSupervisor());
  // The status has no event to wait on: ask until both modes are there.
  auto stub = mvf::supervisor::v1::Supervisor::NewStub(
      grpc::CreateChannel("unix://" + statusSocket(), grpc::InsecureChannelCredentials()));
  auto modesKnown = [&] {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + 2s);
    mvf::supervisor::v1::SupervisorStatus status;
    if (!stub->GetStatus(&context, {}, &status).ok()) return false;
    int known = 0;
    for (const auto& worker : status.workers()) known += !worker.mode().empty();
    return known == 2;
  };
  auto deadline = Clock::now() + kTimeout;
  bool known = false;
  while (!(known = modesKnown()) && Clock::now() < deadline) std::this_thread::sleep_for(20ms);
  ASSERT_TRUE(known) << "the status never had both workers' modes (WorkerStatus.mode)\n"
                     << supervisor_->log();
  ASSERT_NO_FATAL_FAILURE(allocateForTwoPods());
  auto result = allocations();
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_EQ(result.output,
            "default/vm-a/compute  intel.com/vfio  7\n"
            "default/vm-b/compute  intel.com/udma  udma-0 (shared: grants every usable device: "
            "udmabuf)\n")
      << supervisor_->log();

  result = allocations({"--json"});
  auto json = nlohmann::json::parse(result.output, nullptr, false);
  ASSERT_FALSE(json.is_discarded()) << result.output;
  EXPECT_EQ(json["allocations"][0]["mode"], "exclusive");
  EXPECT_EQ(json["allocations"][1]["mode"], "shared");
  EXPECT_EQ(json["allocations"][1]["grants"], nlohmann::json::array({"udmabuf"}));
}

TEST_F(AllocationsTest, MvfctlKubeletAllocatesForAPodOnCommandAndServesTheRest) {
  // `mvfctl kubelet` in its own process on a plugin dir of its own, commands on a FIFO.
  kubelet_.stop();
  std::string dir = node_.dir() + "/kd2";
  std::string socket = node_.dir() + "/pr2/kubelet.sock";
  std::string fifo = node_.dir() + "/commands";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  WorkerProcess standIn("/bin/sh",
                        {"-c", "exec '" + std::string(MVFCTL) + "' kubelet --dir '" + dir +
                                   "' --pod-resources-socket '" + socket + "' <'" + fifo + "'"},
                        node_.dir() + "/kubelet.log", false);
  // Read-write: opening does not wait for the reader, and the stand-in sees no end of
  // input while this end stays open.
  base::UniqueFd commands(::open(fifo.c_str(), O_RDWR | O_CLOEXEC));
  ASSERT_TRUE(commands);
  auto args = nodeArgs(node_);
  args[1] = dir;  // --kubelet-dir
  WorkerProcess udma(MVF_WORKER_UDMA, args, node_.dir() + "/udma2.log");
  ASSERT_TRUE(udma.awaitEvent("registered", kTimeout)) << standIn.log() << udma.log();
  ASSERT_TRUE(standIn.awaitLog("intel.com/udma: 1000 devices, 1000 healthy", kTimeout))
      << standIn.log();

  std::string lines =
      "allocate udma default/demo/main udma-3,udma-4\n"
      "allocate intel.com/udma default/demo/broken nope\n"
      "remove default/nothing\n"
      "allocate udma default/demo\n";
  ASSERT_EQ(::write(commands.get(), lines.data(), lines.size()),
            static_cast<ssize_t>(lines.size()));
  ASSERT_TRUE(standIn.awaitLog("unknown command 'allocate udma default/demo'", kTimeout))
      << standIn.log();
  EXPECT_THAT(standIn.log(), HasSubstr("[kubelet] allocated intel.com/udma udma-3,udma-4 to "
                                       "default/demo/main"));
  EXPECT_THAT(standIn.log(), HasSubstr("[kubelet] Allocate of intel.com/udma for "
                                       "default/demo/broken failed: INVALID_ARGUMENT"));
  EXPECT_THAT(standIn.log(), HasSubstr("[kubelet] no pod default/nothing holds a device"));
  auto result =
      mvfctl({"allocations", "--pod-resources-socket", socket, "--status-socket", statusSocket()});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("default/demo/main  intel.com/udma  udma-3,udma-4 (mode "
                                       "unknown)\n"));
  EXPECT_THAT(result.output, Not(HasSubstr("broken")));

  // A pod gone; then the end of its input ends the commands, not the stand-in.
  std::string remove = "remove default/demo\n";
  ASSERT_EQ(::write(commands.get(), remove.data(), remove.size()),
            static_cast<ssize_t>(remove.size()));
  ASSERT_TRUE(standIn.awaitLog("[kubelet] pod default/demo removed", kTimeout)) << standIn.log();
  commands.reset();
  result =
      mvfctl({"allocations", "--pod-resources-socket", socket, "--status-socket", statusSocket()});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("no container holds a device of intel.com/x11"));
  EXPECT_FALSE(standIn.wait(0ms).has_value()) << standIn.log();
}

// The pod-resources API is mvfctl's and the tests' only: every worker maps libmvf_proto,
// and none carries code it never runs.
TEST(AllocationsBuild, NoWorkerNorTheSupervisorCarriesThePodResourcesApi) {
  std::string lib =
      std::filesystem::path(MVF_SUPERVISOR).parent_path().parent_path() / "lib/libmvf_proto.so";
  for (const std::string& binary : {std::string(MVF_SUPERVISOR), std::string(MVF_WORKER_UDMA),
                                    std::string(MVF_WORKER_VFIO), lib}) {
    auto symbols = runCommand({"nm", "-C", binary});
    ASSERT_EQ(symbols.exitCode, 0) << binary << symbols.output;
    EXPECT_THAT(symbols.output, Not(HasSubstr("v1::PodResources"))) << binary;
  }
  EXPECT_THAT(runCommand({"nm", "-C", MVFCTL}).output, HasSubstr("v1::PodResourcesLister"));
}

TEST(AllocationsErrors, APodResourcesSocketMissingExits1NamingIt) {
  FakeNode node;
  std::string socket = node.dir() + "/pod-resources/kubelet.sock";
  auto began = Clock::now();
  auto result = mvfctl({"allocations", "--pod-resources-socket", socket});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr("mvfctl allocations: no pod-resources socket at " + socket +
                                       ": No such file or directory"));
  EXPECT_THAT(result.output, HasSubstr("podResources.enabled=true"));
  EXPECT_LT(Clock::now() - began, 5s);  // well within the default timeout
}

TEST(AllocationsErrors, ASocketThatNeverAnswersExits1WithinTheTimeout) {
  FakeNode node;
  // Listening, so connections are accepted by the kernel, and nobody ever answers.
  base::UniqueFd listener = node.unixSocket("/pr/kubelet.sock");
  ASSERT_TRUE(listener);
  std::string socket = node.host("/pr/kubelet.sock");
  for (auto [args, timeout] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--timeout", "1s"}, "1s"}, {{}, "5s"}}) {
    args.insert(args.begin(), {"allocations", "--pod-resources-socket", socket});
    auto began = Clock::now();
    auto result = mvfctl(args);
    auto took = Clock::now() - began;
    EXPECT_EQ(result.exitCode, 1) << result.output;
    EXPECT_THAT(result.output, HasSubstr("mvfctl allocations: the pod-resources API on " + socket +
                                         " did not answer within " + timeout));
    auto wanted = timeout == "1s" ? 1s : 5s;
    EXPECT_GE(took, wanted - 100ms) << timeout;  // it waited; the message says it gave up
  }
}

// The chart's probes run `mvfctl health`. Against a status socket that never answers it
// gives up after its 3 s by itself: the call carries no deadline (rpc/unary_call.h).
TEST(HealthErrors, AStatusSocketThatNeverAnswersExits1AfterItsTimeout) {
  FakeNode node;
  base::UniqueFd listener = node.unixSocket("/run/status.sock");  // accepts, never answers
  ASSERT_TRUE(listener);
  std::string socket = node.host("/run/status.sock");
  auto began = Clock::now();
  auto result = mvfctl({"health", "--status-socket", socket});
  auto took = Clock::now() - began;
  EXPECT_EQ(result.exitCode, 1) << result.output;
  EXPECT_THAT(result.output, HasSubstr("the supervisor does not answer on " + socket +
                                       ": DEADLINE_EXCEEDED: Deadline Exceeded"));
  EXPECT_GE(took, 3s - 100ms) << "it waited; the message says it gave up";
  EXPECT_LT(took, kTimeout) << "and gave up";
}

TEST(AllocationsErrors, ASocketNobodyListensOnIsAClearError) {
  FakeNode node;
  ASSERT_FALSE(node.unixSocket("/pr/kubelet.sock", /*listen=*/false));
  std::string socket = node.host("/pr/kubelet.sock");
  auto result = mvfctl({"allocations", "--pod-resources-socket", socket});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr("List on " + socket + " failed: UNAVAILABLE"));
  // A file that is no socket is said to be one.
  ASSERT_OK(node.file("/pr/file"));
  result = mvfctl({"allocations", "--pod-resources-socket", node.host("/pr/file")});
  EXPECT_EQ(result.exitCode, 1);
  EXPECT_THAT(result.output, HasSubstr(node.host("/pr/file") + " is not a unix socket"));
}

TEST(AllocationsErrors, HelpAndBadOptions) {
  auto result = mvfctl({"allocations", "--help"});
  EXPECT_EQ(result.exitCode, 0);
  for (const char* option :
       {"--pod-resources-socket", "/var/lib/kubelet/pod-resources/kubelet.sock", "--status-socket",
        "/run/mvf/status.sock", "--timeout", "--json"}) {
    EXPECT_THAT(result.output, HasSubstr(option));
  }
  result = mvfctl({"allocations", "--pods"});
  EXPECT_EQ(result.exitCode, 64);  // EX_USAGE, as every mvfctl command
  EXPECT_THAT(result.output, HasSubstr("mvfctl allocations: unrecognised option \"--pods\""));
  result = mvfctl({"allocations", "--timeout", "soon"});
  EXPECT_EQ(result.exitCode, 64);
  EXPECT_THAT(result.output, HasSubstr("invalid --timeout"));
  EXPECT_THAT(mvfctl({"--help"}).output, HasSubstr("allocations [--json]"));
}

}  // namespace
}  // namespace mvf::testing
