// rpc::AsyncServer's large-call lane, over a real unix socket: an Allocate handler that
// holds large requests until the test lets them go shows what waits for what.
#include "rpc/async_server.h"

#include <gmock/gmock.h>
#include <grpcpp/generic/generic_stub.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <thread>

#include "proto/deviceplugin.grpc.pb.h"
#include "tests/support/fake_node.h"

namespace mvf::rpc {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using Service = v1beta1::DevicePlugin::WithRawMethod_Allocate<v1beta1::DevicePlugin::Service>;

// Bounds that only catch a hang.
constexpr auto kHang = 20s;

class AsyncServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = AsyncServer::start({&service_}, address());
    ASSERT_NE(server_, nullptr);
    serveUnary(*server_, service_, &Service::RequestAllocate,
               [this](grpc::ServerContext&, const v1beta1::AllocateRequest& request,
                      v1beta1::AllocateResponse* response) {
                 if (request.ByteSizeLong() > AsyncServer::kLargeRequestBytes) {
                   if (!entered_.exchange(true)) largeEntered_.set_value();
                   release_.wait();
                 }
                 response->add_container_responses();
                 return grpc::Status::OK;
               });
  }

  void TearDown() override {
    letGo();
    if (server_) server_->stop(0ms);
  }

  std::string address() const { return "unix://" + node_.dir() + "/s.sock"; }

  // Calls Allocate on a channel of its own; the status, once the call is over.
  std::future<grpc::Status> call(v1beta1::AllocateRequest request) {
    return std::async(std::launch::async, [this, request = std::move(request)] {
      auto stub = v1beta1::DevicePlugin::NewStub(
          grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kHang);
      v1beta1::AllocateResponse response;
      return stub->Allocate(&context, request, &response);
    });
  }

  // A request of about `bytes` bytes: one container naming 100-byte IDs.
  static v1beta1::AllocateRequest request(size_t bytes) {
    v1beta1::AllocateRequest request;
    auto* container = request.add_container_requests();
    for (size_t size = 0; size < bytes; size += 102) {
      container->add_devices_ids(std::string(100, 'x'));
    }
    return request;
  }
  static v1beta1::AllocateRequest small() { return request(100); }
  static v1beta1::AllocateRequest large() { return request(AsyncServer::kLargeRequestBytes * 2); }

  void awaitLargeEntered() {
    ASSERT_EQ(largeEnteredFuture_.wait_for(kHang), std::future_status::ready);
  }

  // Waits until the lane holds `bytes` of requests.
  void awaitHeld(size_t bytes) {
    auto deadline = std::chrono::steady_clock::now() + kHang;
    while (server_->largeCalls().held() != bytes && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(1ms);
    }
    ASSERT_EQ(server_->largeCalls().held(), bytes);
  }

  void letGo() {
    if (!released_) releasePromise_.set_value();
    released_ = true;
  }

  testing::FakeNode node_;
  Service service_;
  std::unique_ptr<AsyncServer> server_;
  std::atomic<bool> entered_ = false;  // a large request reached the handler
  std::promise<void> largeEntered_;
  std::future<void> largeEnteredFuture_ = largeEntered_.get_future();
  std::promise<void> releasePromise_;
  std::shared_future<void> release_ = releasePromise_.get_future().share();
  bool released_ = false;
};

TEST_F(AsyncServerTest, ASmallCallIsAnsweredWhileALargeOneIsStillBeingAnswered) {
  auto largeCall = call(large());
  awaitLargeEntered();

  // On the completion thread alone, this would wait until the large answer is done.
  EXPECT_TRUE(call(small()).get().ok());

  letGo();
  EXPECT_TRUE(largeCall.get().ok());
}

TEST_F(AsyncServerTest, LargeCallsBeyondTheBudgetAreRefusedUntilTheLaneHasRoom) {
  // Three requests of a third of the budget fill it; a fourth is refused.
  auto third = request(AsyncServer::kLargeCallBudgetBytes / 3 - 1024);
  size_t bytes = third.ByteSizeLong();
  ASSERT_GT(bytes, AsyncServer::kLargeRequestBytes);
  ASSERT_LE(3 * bytes, AsyncServer::kLargeCallBudgetBytes);
  ASSERT_GT(4 * bytes, AsyncServer::kLargeCallBudgetBytes);

  std::vector<std::future<grpc::Status>> held;
  held.push_back(call(third));
  awaitLargeEntered();
  held.push_back(call(third));
  held.push_back(call(third));
  awaitHeld(3 * bytes);

  grpc::Status refused = call(third).get();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), HasSubstr("retry later"));
  EXPECT_TRUE(call(small()).get().ok());

  letGo();
  for (auto& status : held) EXPECT_TRUE(status.get().ok());
  awaitHeld(0);
  EXPECT_TRUE(call(third).get().ok());
}

TEST_F(AsyncServerTest, StopsWithLargeCallsQueuedAndEveryCallGetsAnAnswer) {
  auto first = call(large());
  awaitLargeEntered();
  auto second = call(large());
  awaitHeld(2 * large().ByteSizeLong());

  // stop() cancels both calls and waits for the answer being made; the lane then runs
  // what it still holds, whose answers fail on their cancelled calls.
  auto stopped = std::async(std::launch::async, [this] { server_->stop(0ms); });
  letGo();
  ASSERT_EQ(stopped.wait_for(kHang), std::future_status::ready);
  for (auto* status : {&first, &second}) {
    ASSERT_EQ(status->wait_for(kHang), std::future_status::ready);
    // Told at once, not left to its deadline.
    EXPECT_NE(status->get().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  }
}

TEST_F(AsyncServerTest, ARequestThatIsNoProtobufMessageIsInvalidArgument) {
  auto channel = grpc::CreateChannel(address(), grpc::InsecureChannelCredentials());
  grpc::GenericStub stub(channel);
  grpc::CompletionQueue queue;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kHang);
  // Field 1 (container_requests), length-delimited, longer than what follows.
  const std::string bytes = "\x0a\xff\xff\x03\x01";
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  auto reader = stub.PrepareUnaryCall(&context, "/v1beta1.DevicePlugin/Allocate", request, &queue);
  reader->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  reader->Finish(&response, &status, this);
  void* tag = nullptr;
  bool ok = false;
  ASSERT_TRUE(queue.Next(&tag, &ok));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "the request is not a valid v1beta1.AllocateRequest message");
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  EXPECT_TRUE(call(small()).get().ok());  // and the server goes on
}

// The lane alone, without gRPC: what TSan can judge (scripts/sanitize.sh thread).
TEST(LargeCallLaneTest, AnswersInOrderWithinTheBudgetAndAllQueuedOnStop) {
  LargeCallLane lane(100);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::mutex mu;
  std::vector<int> ran;
  auto job = [&](int n) {
    return [&, n] {
      released.wait();
      std::lock_guard lock(mu);
      ran.push_back(n);
    };
  };
  EXPECT_TRUE(lane.post(60, job(1)));  // 60 of 100: running, held until released
  EXPECT_TRUE(lane.post(40, job(2)));  // 100 of 100
  EXPECT_FALSE(lane.post(1, job(3)));  // over the budget: refused, never run
  EXPECT_EQ(lane.held(), 100u);

  // From other threads while the first job is still running.
  std::thread other([&] { EXPECT_FALSE(lane.post(1, job(4))); });
  other.join();
  release.set_value();
  lane.stop();  // runs what is queued, then ends
  EXPECT_EQ(ran, (std::vector<int>{1, 2}));
  EXPECT_EQ(lane.held(), 0u);
  EXPECT_FALSE(lane.post(1, job(5)));  // after stop
}

TEST(LargeCallLaneTest, TakesARequestLargerThanTheBudgetWhenEmpty) {
  LargeCallLane lane(10);
  std::promise<void> done;
  EXPECT_TRUE(lane.post(50, [&] { done.set_value(); }));
  EXPECT_EQ(done.get_future().wait_for(kHang), std::future_status::ready);
  lane.stop();
}

}  // namespace
}  // namespace mvf::rpc
