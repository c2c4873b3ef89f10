// mvfctl allocations: which pod's container holds which of this plugin's device IDs, from
// the kubelet's pod-resources API (List), and what a shared ID grants now, from the
// supervisor's status. The kubelet knows the pairings; Allocate never names a pod.
#include <grpcpp/grpcpp.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "base/options.h"
#include "base/process.h"
#include "mvfctl/allocations_report.h"
#include "mvfctl/command.h"
#include "proto/podresources.grpc.pb.h"

namespace mvf::mvfctl {
namespace {

// List answers for every pod on the node, which on a large one passes gRPC's default
// 4 MiB; dcgm-exporter allows 16 MiB as well.
constexpr int kMaxListSize = 16 * 1024 * 1024;

base::Result<::v1::ListPodResourcesResponse> listPodResources(
    const std::string& socket, std::chrono::milliseconds timeout,
    std::chrono::system_clock::time_point deadline) {
  // Said before gRPC is asked: its words for a missing file are about addresses.
  struct stat info {};
  if (::stat(socket.c_str(), &info) != 0) {
    int error = errno;
    if (error == ENOENT || error == ENOTDIR) {
      return base::Error{"no pod-resources socket at " + socket + ": " + std::strerror(error) +
                             " (the kubelet serves it in /var/lib/kubelet/pod-resources; the "
                             "chart mounts that dir into the plugin's pod only with "
                             "podResources.enabled=true)",
                         error};
    }
    return base::Error{"cannot reach " + socket + ": " + std::strerror(error), error};
  }
  if (!S_ISSOCK(info.st_mode)) return base::Error{socket + " is not a unix socket"};
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxListSize);
  auto stub = ::v1::PodResourcesLister::NewStub(
      grpc::CreateCustomChannel("unix://" + socket, grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext context;
  context.set_deadline(deadline);
  ::v1::ListPodResourcesResponse list;
  grpc::Status status = stub->List(&context, {}, &list);
  if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    return base::Error{"the pod-resources API on " + socket + " did not answer within " +
                       base::formatDuration(timeout)};
  }
  if (!status.ok()) {
    return base::Error{failure("List", Target{socket}, status)};
  }
  return list;
}

}  // namespace

int runAllocations(const std::vector<std::string>& args) {
  po::options_description options("allocations options");
  options.add_options()("pod-resources-socket",
                        po::value<std::string>()->default_value(kDefaultPodResourcesSocket),
                        "the kubelet's pod-resources API")(
      "timeout", po::value<std::string>()->default_value("5s"),
      "how long the kubelet and the supervisor have to answer, together")(
      "json", "print the allocations as JSON");
  addStatusOptions(options);
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "allocations")) return *code;
  auto timeout = base::parseDuration(values["timeout"].as<std::string>());
  if (!timeout || timeout->count() <= 0) {
    std::cerr << "mvfctl allocations: invalid --timeout, expected e.g. 500ms or 5s\n";
    return base::kExitUsage;
  }
  auto deadline = std::chrono::system_clock::now() + *timeout;

  auto list =
      listPodResources(values["pod-resources-socket"].as<std::string>(), *timeout, deadline);
  if (!list) {
    std::cerr << "mvfctl allocations: " << list.error().message << "\n";
    return base::kExitFailure;
  }
  auto allocations = allocationsOf(list.value());
  // The supervisor is asked only when there is an ID to explain, within what is left.
  base::Result<mvf::supervisor::v1::SupervisorStatus> status =
      base::Error{"the supervisor was not asked"};
  if (!allocations.empty())
    status = fetchStatus(values["status-socket"].as<std::string>(), deadline);
  std::cout << (values.count("json") ? allocationsJson(allocations, status)
                                     : formatAllocations(allocations, status));
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
