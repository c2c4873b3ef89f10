// mvfctl allocate: Allocate on a worker, one container request per argument.
#include <iostream>

#include "base/options.h"
#include "base/process.h"
#include "mvfctl/command.h"
#include "proto/reflection.h"
#include "rpc/unary_call.h"

namespace mvf::mvfctl {

int runAllocate(const std::vector<std::string>& args) {
  po::options_description options("allocate options");
  addTargetOptions(options);
  options.add_options()("ids", po::value<std::vector<std::string>>(),
                        "one container request per argument: comma-separated device IDs");
  po::positional_options_description positional;
  positional.add("worker", 1).add("ids", -1);
  po::variables_map values;
  // With --socket, every positional argument is a container request.
  if (std::find_if(args.begin(), args.end(), [](const std::string& a) {
        return a == "--socket" || a.rfind("--socket=", 0) == 0;
      }) != args.end()) {
    positional = po::positional_options_description();
    positional.add("ids", -1);
  }
  if (auto code = parse(args, options, positional, values, "allocate")) return *code;
  auto where = target(values, "allocate");
  if (!where) return base::kExitUsage;

  v1beta1::AllocateRequest request;
  if (values.count("ids")) {
    for (const auto& group : values["ids"].as<std::vector<std::string>>()) {
      auto* container = request.add_container_requests();
      for (const auto& id : base::splitList(group, ',')) container->add_devices_ids(id);
    }
  }
  auto stub = connect(*where);
  v1beta1::AllocateResponse response;
  grpc::Status status = rpc::callUntil(
      std::chrono::system_clock::now() + std::chrono::seconds(10),
      [&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return stub->AsyncAllocate(context, request, queue);
      },
      &response);
  if (!status.ok()) {
    std::cerr << "mvfctl: " << failure("Allocate", *where, status) << "\n";
    return base::kExitFailure;
  }
  std::cout << mvf::proto::toJson(response, /*pretty=*/true);
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
