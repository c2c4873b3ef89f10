#pragma once

// What the workers' integration tests share: a fake node, the kubelet stand-in, a worker
// process, and ways to wait for a list and read an Allocate response.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "kubelet_stand_in/kubelet_stand_in.h"
#include "tests/support/fake_sysfs.h"
#include "tests/support/status.h"
#include "tests/support/worker_process.h"

namespace mvf::testing {

using kubelet::KubeletStandIn;
using kubelet::Node;

inline constexpr auto kTimeout = std::chrono::seconds(10);

// What a container got, in a form that compares in one line.
struct Granted {
  std::vector<std::string> nodes;   // host path (== container path) + ":" + permissions
  std::vector<std::string> mounts;  // host -> container, ro/rw
  std::map<std::string, std::string> envs;
};

inline Granted granted(const v1beta1::ContainerAllocateResponse& response) {
  Granted out;
  for (const auto& spec : response.devices()) {
    EXPECT_EQ(spec.host_path(), spec.container_path());
    out.nodes.push_back(spec.host_path() + ":" + spec.permissions());
  }
  for (const auto& mount : response.mounts()) {
    out.mounts.push_back(mount.host_path() + "->" + mount.container_path() +
                         (mount.read_only() ? ":ro" : ":rw"));
  }
  out.envs.insert(response.envs().begin(), response.envs().end());
  return out;
}

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!FakeNode::canMknod()) GTEST_SKIP() << "needs CAP_MKNOD to build device nodes";
    ASSERT_OK(kubelet_.start());
  }

  void start(const std::string& binary, std::vector<std::string> extra = {}) {
    auto args = nodeArgs(node_);
    args.insert(args.end(), extra.begin(), extra.end());
    worker_ = std::make_unique<WorkerProcess>(binary, args, node_.dir() + "/worker.log");
  }

  // Waits until `resource` lists exactly these IDs as healthy and these as unhealthy.
  bool lists(const std::string& resource, std::vector<std::string> healthy,
             std::vector<std::string> unhealthy = {}) {
    std::sort(healthy.begin(), healthy.end());
    std::sort(unhealthy.begin(), unhealthy.end());
    bool ok = kubelet_.waitFor(
        [&](const Node& node) {
          auto it = node.find(resource);
          return it != node.end() && !it->second.stopped && it->second.ids(true) == healthy &&
                 it->second.ids(false) == unhealthy;
        },
        kTimeout);
    if (!ok)
      ADD_FAILURE() << "the list never became as expected\n"
                    << kubelet_.describeNode() << worker_->log();
    return ok;
  }

  // Waits until `resource` advertises `total` devices of which `healthy` are healthy.
  bool counts(const std::string& resource, int64_t total, int64_t healthy) {
    bool ok = kubelet_.waitFor(
        [&](const Node& node) {
          auto it = node.find(resource);
          return it != node.end() && !it->second.stopped && it->second.capacity() == total &&
                 it->second.healthy() == healthy;
        },
        kTimeout);
    if (!ok) ADD_FAILURE() << kubelet_.describeNode() << worker_->log();
    return ok;
  }

  std::vector<Granted> allocate(const std::string& resource,
                                std::vector<std::vector<std::string>> containers,
                                grpc::Status* status = nullptr) {
    v1beta1::AllocateRequest request;
    for (const auto& ids : containers) {
      auto* container = request.add_container_requests();
      for (const auto& id : ids) container->add_devices_ids(id);
    }
    v1beta1::AllocateResponse response;
    grpc::Status result = kubelet_.allocate(resource, request, &response);
    if (status != nullptr) {
      *status = result;
    } else {
      EXPECT_TRUE(result.ok()) << result.error_message();
    }
    std::vector<Granted> out;
    for (const auto& container : response.container_responses()) out.push_back(granted(container));
    return out;
  }

  FakeNode node_;
  KubeletStandIn kubelet_{node_.kubeletDir()};
  std::unique_ptr<WorkerProcess> worker_;
};

}  // namespace mvf::testing
