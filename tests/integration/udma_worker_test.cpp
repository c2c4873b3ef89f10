// The real mvf-worker-udma binary against the kubelet stand-in, over real unix sockets,
// on a fake node in a temp dir. The core's end-to-end behaviour (registration, kubelet
// restarts, the socket, the notify pipe, polling) is tested here once, through the
// simplest resource, which is why this file is longer than the other workers'.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <thread>

#include "base/unique_fd.h"
#include "base/unix_socket.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/support/fake_node.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {
namespace {

using namespace std::chrono_literals;
using kubelet::KubeletStandIn;
using kubelet::Node;
using ::testing::HasSubstr;

constexpr const char* kResource = "intel.com/udma";
// Safety nets only: every wait ends as soon as its event arrives.
constexpr auto kTimeout = 10s;

bool fileExists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// true when `healthy` of `total` devices are advertised over a live stream.
auto advertises(int64_t total, int64_t healthy) {
  return [=](const Node& node) {
    auto it = node.find(kResource);
    return it != node.end() && !it->second.stopped && it->second.capacity() == total &&
           it->second.healthy() == healthy;
  };
}

class UdmaWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FakeNode::canMknod()) GTEST_SKIP() << "needs CAP_MKNOD to build /dev/udmabuf";
    ASSERT_OK(node_.mkdirs("/dev"));
  }

  std::unique_ptr<WorkerProcess> startWorker(std::vector<std::string> extra = {}) {
    // `extra` holds flag/value pairs; one that nodeArgs() already sets replaces it.
    auto args = nodeArgs(node_);
    for (size_t i = 0; i + 1 < extra.size(); i += 2) {
      auto it = std::find(args.begin(), args.end(), extra[i]);
      if (it == args.end()) {
        args.insert(args.end(), {extra[i], extra[i + 1]});
      } else {
        *(it + 1) = extra[i + 1];
      }
    }
    return std::make_unique<WorkerProcess>(
        MVF_WORKER_UDMA, args, node_.dir() + "/worker" + std::to_string(++workers_) + ".log");
  }

  // The usual start: /dev/udmabuf present, the kubelet up, the worker registered.
  std::unique_ptr<WorkerProcess> startRegistered(std::vector<std::string> extra = {}) {
    EXPECT_OK(node_.charDevice("/dev/udmabuf"));
    EXPECT_OK(kubelet_.start());
    auto worker = startWorker(std::move(extra));
    EXPECT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
    return worker;
  }

  v1beta1::AllocateResponse allocate(std::vector<std::vector<std::string>> containers,
                                     grpc::Status* status) {
    v1beta1::AllocateRequest request;
    for (const auto& ids : containers) {
      auto* container = request.add_container_requests();
      for (const auto& id : ids) container->add_devices_ids(id);
    }
    v1beta1::AllocateResponse response;
    *status = kubelet_.allocate(kResource, request, &response);
    return response;
  }

  std::string socketPath() const { return node_.kubeletDir() + "/udma.sock"; }

  FakeNode node_;
  KubeletStandIn kubelet_{node_.kubeletDir()};
  int workers_ = 0;
};

TEST_F(UdmaWorkerTest, RegistersIntelUdmaOnUdmaSockWithAThousandHealthyDevices) {
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  auto state = kubelet_.resource(kResource);
  EXPECT_EQ(state->endpoint, "udma.sock");
  EXPECT_EQ(state->registrations, 1);
  EXPECT_EQ(state->devices.front().id(), "udma-0");
  EXPECT_FALSE(state->options.get_preferred_allocation_available());
  EXPECT_THAT(kubelet_.describeNode(), HasSubstr("intel.com/udma:  1k"));
}

TEST_F(UdmaWorkerTest, AdvertisesAThousandUnhealthyDevicesWhenTheNodeIsMissing) {
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker();
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 0), kTimeout)) << worker->log();
}

TEST_F(UdmaWorkerTest, SharedCountSetsTheNumberOfIds) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker({"--shared-count", "7"});
  ASSERT_TRUE(kubelet_.waitFor(advertises(7, 7), kTimeout)) << worker->log();
}

TEST_F(UdmaWorkerTest, CreatingAndRemovingTheNodeFlipsHealth) {
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker();
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 0), kTimeout)) << worker->log();

  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();

  ASSERT_OK(node_.remove("/dev/udmabuf"));
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 0), kTimeout)) << worker->log();

  // Something that is not a character device is not udmabuf.
  ASSERT_OK(node_.file("/dev/udmabuf"));
  ASSERT_OK(node_.charDevice("/dev/other"));  // an unrelated event, answered with no update
  ASSERT_OK(node_.remove("/dev/udmabuf"));
  ASSERT_OK(node_.symlink("/dev/udmabuf", "other"));
  ASSERT_OK(node_.charDevice("/dev/udmabuf2"));
  ASSERT_OK(node_.remove("/dev/udmabuf"));
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
  // Only real changes were sent: the list at start, healthy, unhealthy, healthy again.
  EXPECT_EQ(kubelet_.resource(kResource)->updates, 4) << worker->log();
}

TEST_F(UdmaWorkerTest, AllocateAnswersEachContainerRequestInOrder) {
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  grpc::Status status;
  auto response = allocate({{"udma-0"}, {"udma-1", "udma-2"}, {"udma-999"}}, &status);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_EQ(response.container_responses_size(), 3);
  for (const auto& container : response.container_responses()) {
    ASSERT_EQ(container.devices_size(), 1);
    EXPECT_EQ(container.devices(0).host_path(), "/dev/udmabuf");
    EXPECT_EQ(container.devices(0).container_path(), "/dev/udmabuf");
    EXPECT_EQ(container.devices(0).permissions(), "rw");
    EXPECT_EQ(container.mounts_size(), 0);
    EXPECT_EQ(container.envs_size(), 0);
  }
  EXPECT_THAT(worker->log(), HasSubstr("ids=udma-1,udma-2"));
}

TEST_F(UdmaWorkerTest, AllocateRefusesAnUnknownIdWithInvalidArgumentNamingIt) {
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  grpc::Status status;
  allocate({{"udma-0"}, {"udma-1000"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("udma-1000"));
}

TEST_F(UdmaWorkerTest, AllocateFailsWithFailedPreconditionWhenTheNodeVanished) {
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  ASSERT_OK(node_.remove("/dev/udmabuf"));
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 0), kTimeout)) << worker->log();
  grpc::Status status;
  allocate({{"udma-0"}}, &status);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), HasSubstr("/dev/udmabuf does not exist"));
}

TEST_F(UdmaWorkerTest, ReRegistersOnceAfterEveryKubeletRestartWithoutLeaking) {
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  // Exactly one registration per restart: a second one would end the first stream and
  // leave the resource unhealthy in between.
  auto restartAndAwait = [&](int registrations) {
    return static_cast<bool>(kubelet_.restart()) &&
           kubelet_.waitFor(
               [&](const Node& node) {
                 return advertises(1000, 1000)(node) &&
                        node.at(kResource).registrations == registrations;
               },
               kTimeout);
  };
  // gRPC grows its thread pools on demand up to a bound (here ~14 threads, whatever the
  // number of restarts), so warm up with 50 restarts first, then measure 50 more.
  for (int i = 2; i <= 51; ++i) ASSERT_TRUE(restartAndAwait(i)) << worker->log();
  int fds = worker->openFds();
  int threads = worker->threads();
  for (int i = 52; i <= 101; ++i) ASSERT_TRUE(restartAndAwait(i)) << worker->log();
  // A leak of one fd or thread per restart would show as +50 and never go away; gRPC
  // closes old connections a moment after the new ones exist, so let them settle.
  auto settled = [](auto measure, int limit) {
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (measure() > limit && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(10ms);
    }
    return measure();
  };
  EXPECT_LE(settled([&] { return worker->openFds(); }, fds), fds);
  // Under CPU contention the pools may still add a few threads on their way to the bound.
  EXPECT_LE(settled([&] { return worker->threads(); }, threads + 8), threads + 8);
  EXPECT_EQ(kubelet_.resource(kResource)->registrations, 101);
}

TEST_F(UdmaWorkerTest, RegistersAgainWhenTheKubeletEndsItsStreamWhileAnotherClientWatches) {
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  // Another client's ListAndWatch, as `mvfctl devices --watch` opens it, stays open.
  auto channel = grpc::CreateChannel("unix://" + socketPath(), grpc::InsecureChannelCredentials());
  auto stub = v1beta1::DevicePlugin::NewStub(channel);
  grpc::ClientContext watch;
  auto watcher = stub->ListAndWatch(&watch, v1beta1::Empty());
  v1beta1::ListAndWatchResponse list;
  ASSERT_TRUE(watcher->Read(&list));
  // The kubelet ends its own stream and waits for the plugin to register again: only
  // the kubelet's stream ending means that, whoever else watches.
  ASSERT_TRUE(kubelet_.endStream(kResource));
  EXPECT_TRUE(kubelet_.waitFor(
      [&](const Node& node) {
        return advertises(1000, 1000)(node) && node.at(kResource).registrations == 2;
      },
      kTimeout))
      << kubelet_.describeNode() << worker->log();
  watch.TryCancel();
  while (watcher->Read(&list)) {
  }
  watcher->Finish();
}

// One request far past the limits (200000 empty container requests, 400 kB, parsed into
// 10 MB of small objects on the large-call lane) is refused, and its memory goes back.
// With a second malloc arena, which malloc_trim cannot shrink, the worker kept 11 MB.
TEST_F(UdmaWorkerTest, GivesBackTheMemoryOfAHugeRefusedRequest) {
#ifdef __SANITIZE_ADDRESS__
  GTEST_SKIP() << "ASan's allocator keeps freed memory in quarantine: glibc's heap is not "
                  "what is measured here";
#endif
  auto worker = startRegistered();
  ASSERT_FALSE(HasFailure());
  long before = rollupKb(worker->pid(), "Pss_Anon");
  ASSERT_GT(before, 0);
  auto stub = v1beta1::DevicePlugin::NewStub(
      grpc::CreateChannel("unix://" + socketPath(), grpc::InsecureChannelCredentials()));
  v1beta1::AllocateRequest huge;
  for (int i = 0; i < 200000; ++i) huge.add_container_requests();
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + 3s);
  v1beta1::AllocateResponse response;
  EXPECT_EQ(stub->Allocate(&context, huge, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  // The memory is handed back once the call is over on the worker's side, just after
  // the answer reached us: within 0.1 s in most runs, after about 10 s in some (the
  // cause is not known; README, "Idle and memory").
  constexpr long kSlackKb = 4 * 1024;
  auto deadline = std::chrono::steady_clock::now() + 3 * kTimeout;
  while (rollupKb(worker->pid(), "Pss_Anon") > before + kSlackKb &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
  }
  EXPECT_LE(rollupKb(worker->pid(), "Pss_Anon"), before + kSlackKb);
}

TEST_F(UdmaWorkerTest, WaitsForAnAbsentKubeletAndRegistersWhenItComes) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  std::filesystem::create_directories(node_.kubeletDir());
  auto worker = startWorker();
  ASSERT_TRUE(worker->awaitEvent("ready", kTimeout)) << worker->log();
  // Serving, no kubelet yet: the worker retries in the background and stays up.
  EXPECT_TRUE(fileExists(socketPath()));
  ASSERT_OK(kubelet_.start());
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
  EXPECT_TRUE(worker->awaitEvent("registered", kTimeout));
}

// A kubelet.sock left by a kubelet that died: the file stays, nobody listens. The worker
// connects itself (gRPC's subchannel would arm a reconnect timer each time: registrar.cpp),
// says exactly what failed, and registers once the kubelet is back.
TEST_F(UdmaWorkerTest, RetriesAKubeletSocketNobodyListensOnAndSaysWhy) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  std::filesystem::create_directories(node_.kubeletDir());
  const std::string kubeletSocket = node_.kubeletDir() + "/kubelet.sock";
  ASSERT_OK(base::listenUnix(kubeletSocket));  // closed at once; its file stays
  auto worker = startWorker();
  ASSERT_TRUE(worker->awaitLog("registering with " + kubeletSocket + " failed (14: connect(" +
                                   kubeletSocket + "): Connection refused)",
                               kTimeout))
      << worker->log();
  ASSERT_OK(kubelet_.start());
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
  EXPECT_EQ(kubelet_.resource(kResource)->registrations, 1);
}

// A kubelet.sock that accepts connections and never answers: the Register call has no
// gRPC deadline, so only the worker's own --register-timeout gets it cancelled and retried.
TEST_F(UdmaWorkerTest, CancelsARegisterNobodyAnswersAtItsTimeoutAndRetries) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  std::filesystem::create_directories(node_.kubeletDir());
  const std::string kubeletSocket = node_.kubeletDir() + "/kubelet.sock";
  auto silent = base::listenUnix(kubeletSocket);  // listens, never accepts
  ASSERT_OK(silent);
  auto worker = startWorker({"--register-timeout", "1s"});
  ASSERT_TRUE(worker->awaitLog(
      "registering with " + kubeletSocket + " failed (no answer within 1000ms)", kTimeout))
      << worker->log();
  ASSERT_OK(kubelet_.start());  // a kubelet.sock of its own: the worker registers with it
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
  EXPECT_EQ(kubelet_.resource(kResource)->registrations, 1);
}

TEST_F(UdmaWorkerTest, WaitsForAMissingPluginDir) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  auto worker = startWorker();
  // It says it waits, and it does: it is still running once it has said so. Waiting is
  // all it can do, so it tells the supervisor it is ready (not to be killed for it).
  ASSERT_TRUE(worker->awaitLog("does not exist; waiting for it", kTimeout)) << worker->log();
  ASSERT_TRUE(worker->awaitEvent("ready", kTimeout)) << worker->log();
  EXPECT_FALSE(worker->wait(0ms).has_value()) << "the worker must not exit for a missing dir";
  ASSERT_OK(kubelet_.start());  // creates the dir
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
}

TEST_F(UdmaWorkerTest, SigtermRemovesTheSocketAndExitsZero) {
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker();
  ASSERT_TRUE(worker->awaitEvent("registered", kTimeout)) << worker->log();
  ASSERT_TRUE(fileExists(socketPath()));
  worker->signal(SIGTERM);
  auto status = worker->wait(kTimeout);  // how soon is the bench's figure
  ASSERT_TRUE(status.has_value());
  ASSERT_TRUE(WIFEXITED(*status)) << worker->log();
  EXPECT_EQ(WEXITSTATUS(*status), 0);
  EXPECT_FALSE(fileExists(socketPath()));
  EXPECT_TRUE(fileExists(node_.kubeletDir() + "/kubelet.sock")) << "only our own socket goes";
}

TEST_F(UdmaWorkerTest, ASecondInstanceRefusesToStartAndLeavesTheFirstServing) {
  auto first = startRegistered();
  ASSERT_FALSE(HasFailure());

  auto second = startWorker();
  auto status = second->wait(kTimeout);
  ASSERT_TRUE(status.has_value()) << second->log();
  ASSERT_TRUE(WIFEXITED(*status));
  EXPECT_EQ(WEXITSTATUS(*status), 1);
  EXPECT_THAT(second->log(), HasSubstr("held by another running instance"));

  // The first one was not disturbed: same registration, same stream, still allocating.
  auto state = kubelet_.resource(kResource);
  EXPECT_EQ(state->registrations, 1);
  EXPECT_EQ(state->streamsEnded, 0);
  grpc::Status allocated;
  allocate({{"udma-5"}}, &allocated);
  EXPECT_TRUE(allocated.ok()) << allocated.error_message();
}

TEST_F(UdmaWorkerTest, AnInstanceWithAnotherLockNeverStealsALiveSocket) {
  ASSERT_OK(kubelet_.start());
  auto first = startWorker();
  ASSERT_TRUE(first->awaitEvent("registered", kTimeout)) << first->log();

  // Another run dir, so no lock protects the socket: only the liveness check does.
  auto args = nodeArgs(node_);
  *(std::find(args.begin(), args.end(), "--run-dir") + 1) = node_.dir() + "/run2";
  WorkerProcess second(MVF_WORKER_UDMA, args, node_.dir() + "/second.log");
  ASSERT_TRUE(second.awaitLog("served by another process", kTimeout)) << second.log();
  EXPECT_FALSE(second.wait(100ms).has_value()) << "it waits for the socket, it does not exit";
  EXPECT_EQ(kubelet_.resource(kResource)->registrations, 1);
  EXPECT_EQ(kubelet_.resource(kResource)->streamsEnded, 0);
  EXPECT_TRUE(fileExists(socketPath()));
}

TEST_F(UdmaWorkerTest, ReplacesAStaleSocketFileThatNobodyAnswers) {
  ASSERT_OK(kubelet_.start());
  {
    // Bound and closed, as a crashed worker leaves it: the file stays, nobody listens.
    base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, socketPath().c_str());
    ASSERT_EQ(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  }
  ASSERT_TRUE(fileExists(socketPath()));
  auto worker = startWorker();
  ASSERT_TRUE(worker->awaitEvent("registered", kTimeout)) << worker->log();
}

TEST_F(UdmaWorkerTest, NotifiesReadyDevicesRegisteredAndHeartbeats) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker();
  ASSERT_TRUE(worker->awaitEvent("devices", kTimeout));
  ASSERT_TRUE(worker->awaitEvent("ready", kTimeout));
  ASSERT_TRUE(worker->awaitEvent("registered", kTimeout));
  ASSERT_TRUE(worker->awaitEvent("heartbeat", kTimeout));
  ASSERT_OK(kubelet_.restart());
  ASSERT_TRUE(worker->awaitEvent("unregistered", kTimeout));
  ASSERT_TRUE(worker->awaitEvent("registered", kTimeout));
}

TEST_F(UdmaWorkerTest, EventsPrintTheirFieldsZerosIncludedAndNoCountsTheyDoNotHave) {
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker();
  ASSERT_TRUE(worker->awaitEvent("registered", kTimeout)) << worker->log();
  ASSERT_OK(node_.remove("/dev/udmabuf"));
  ASSERT_TRUE(worker->awaitEvent("devices", kTimeout)) << worker->log();
  // A script reading .healthy must read 0, not null.
  auto event = parseJsonObject(worker->lastEvent());
  ASSERT_TRUE(event) << worker->lastEvent();
  const auto& fields = event->fields();
  EXPECT_EQ(fields.at("event").string_value(), "devices");
  EXPECT_EQ(fields.at("worker").string_value(), "udma");
  EXPECT_EQ(fields.at("total").number_value(), 1000);
  ASSERT_TRUE(fields.contains("healthy")) << worker->lastEvent();
  EXPECT_EQ(fields.at("healthy").number_value(), 0);
  // A heartbeat has no counts: none printed, so `.healthy == 0` never matches one.
  ASSERT_TRUE(worker->awaitEvent("heartbeat", kTimeout)) << worker->log();
  auto heartbeat = parseJsonObject(worker->lastEvent());
  ASSERT_TRUE(heartbeat) << worker->lastEvent();
  EXPECT_FALSE(heartbeat->fields().contains("healthy")) << worker->lastEvent();
  EXPECT_FALSE(heartbeat->fields().contains("total")) << worker->lastEvent();
}

TEST_F(UdmaWorkerTest, JsonLogLinesAreObjectsWithEveryField) {
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker({"--log-format", "json"});
  ASSERT_TRUE(worker->awaitEvent("registered", kTimeout)) << worker->log();
  std::istringstream lines(worker->log());
  int checked = 0;
  for (std::string line; std::getline(lines, line); ++checked) {
    auto object = parseJsonObject(line);
    ASSERT_TRUE(object) << "not a JSON object: " << line;
    for (const char* field : {"ts", "level", "worker", "component", "msg"}) {
      EXPECT_TRUE(object->fields().contains(field)) << field << " missing in " << line;
    }
  }
  EXPECT_GT(checked, 3);
}

// After a kubelet restart the worker must register again and still allocate.
void expectStillServes(KubeletStandIn& kubelet, WorkerProcess& worker, int registrations) {
  ASSERT_OK(kubelet.restart());
  EXPECT_TRUE(kubelet.waitFor(
      [&](const Node& node) {
        return advertises(1000, 1000)(node) && node.at(kResource).registrations == registrations;
      },
      kTimeout))
      << worker.log();
  v1beta1::AllocateRequest request;
  request.add_container_requests()->add_devices_ids("udma-1");
  v1beta1::AllocateResponse response;
  EXPECT_TRUE(kubelet.allocate(kResource, request, &response).ok());
}

TEST_F(UdmaWorkerTest, ANotifyPipeNobodyReadsNeverStallsTheWorker) {
  auto worker = startRegistered({"--heartbeat-interval", "10ms"});
  ASSERT_FALSE(HasFailure());
  // A one-page pipe that nobody reads: heartbeats fill it within a second. A pipe cannot
  // shrink below what it holds (EBUSY), and a slow start (a sanitizer build) may have
  // queued more than a page of events: those are read first.
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (::fcntl(worker->eventsFd(), F_SETPIPE_SZ, 4096) < 0) {
    ASSERT_EQ(errno, EBUSY) << std::strerror(errno);
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the pipe never shrank";
    char queuedEvents[65536];
    ASSERT_GT(::read(worker->eventsFd(), queuedEvents, sizeof(queuedEvents)), 0);
  }
  int queued = 0;
  while (queued < 4096 - 128 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(10ms);
    ::ioctl(worker->eventsFd(), FIONREAD, &queued);
  }
  ASSERT_GE(queued, 4096 - 128) << "the pipe never filled";
  expectStillServes(kubelet_, *worker, 2);
  EXPECT_THAT(worker->log(), HasSubstr("notify pipe full"));
}

TEST_F(UdmaWorkerTest, ANotifyPipeWhoseReaderIsGoneNeverStopsTheWorker) {
  auto worker = startRegistered({"--heartbeat-interval", "10ms"});
  ASSERT_FALSE(HasFailure());
  worker->closeEvents();
  ASSERT_TRUE(worker->awaitLog("no more events will be sent", kTimeout)) << worker->log();
  expectStillServes(kubelet_, *worker, 2);
}

TEST_F(UdmaWorkerTest, FallsBackToPollingWhenAskedAndStillSeesChanges) {
  ASSERT_OK(kubelet_.start());
  auto worker = startWorker({"--watch", "poll", "--poll-interval", "50ms"});
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 0), kTimeout)) << worker->log();
  ASSERT_OK(node_.charDevice("/dev/udmabuf"));
  ASSERT_TRUE(kubelet_.waitFor(advertises(1000, 1000), kTimeout)) << worker->log();
  ASSERT_OK(kubelet_.restart());
  ASSERT_TRUE(kubelet_.waitFor(
      [](const Node& node) {
        return advertises(1000, 1000)(node) && node.at(kResource).registrations == 2;
      },
      kTimeout))
      << worker->log();
}

}  // namespace
}  // namespace mvf::testing
