#include "mvfctl/command.h"

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <iostream>
#include <mutex>

#include "base/grpc_code.h"
#include "base/options.h"
#include "base/process.h"
#include "rpc/unary_call.h"

namespace mvf::mvfctl {
namespace {

std::mutex outputMu;

}  // namespace

void say(const std::string& line) { print(line + "\n"); }

void print(const std::string& text) {
  std::lock_guard lock(outputMu);
  std::cout << text << std::flush;
}

// Parses a command's options; returns the exit code to stop with, or nullopt to go on.
std::optional<int> parse(const std::vector<std::string>& args, po::options_description& options,
                         const po::positional_options_description& positional,
                         po::variables_map& values, const std::string& command) {
  options.add_options()("help", "print this help");
  try {
    auto style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(
        po::command_line_parser(args).options(options).positional(positional).style(style).run(),
        values);
    // --help before the check of required options (kubelet's --dir).
    if (values.count("help")) {
      std::cout << "Usage: mvfctl " << command << " [options]\n" << options;
      return base::kExitOk;
    }
    po::notify(values);
  } catch (const po::error& e) {
    std::cerr << "mvfctl " << command << ": " << base::optionError(e) << "\n";
    return base::kExitUsage;
  }
  return std::nullopt;
}

void addTargetOptions(po::options_description& options) {
  options.add_options()("worker", po::value<std::string>(), "x11, udma, vfio, igpu or usb")(
      "socket", po::value<std::string>(), "a plugin socket path, instead of WORKER")(
      "kubelet-dir", po::value<std::string>()->default_value(kDefaultKubeletDir),
      "where WORKER's socket is");
}

std::optional<Target> target(const po::variables_map& values, const std::string& command) {
  if (values.count("socket")) return Target{values["socket"].as<std::string>()};
  if (!values.count("worker")) {
    std::cerr << "mvfctl " << command << ": name a WORKER or give --socket\n";
    return std::nullopt;
  }
  return Target{values["kubelet-dir"].as<std::string>() + "/" + values["worker"].as<std::string>() +
                ".sock"};
}

std::unique_ptr<v1beta1::DevicePlugin::Stub> connect(const Target& target) {
  return v1beta1::DevicePlugin::NewStub(
      grpc::CreateChannel("unix://" + target.socket, grpc::InsecureChannelCredentials()));
}

std::string codeName(grpc::StatusCode code) {
  return std::string(base::grpcCodeName(static_cast<int>(code)));
}

std::string failure(const std::string& what, const Target& target, const grpc::Status& status) {
  return what + " on " + target.socket + " failed: " + codeName(status.error_code()) + ": " +
         status.error_message();
}

void addStatusOptions(po::options_description& options) {
  options.add_options()("status-socket",
                        po::value<std::string>()->default_value(kDefaultStatusSocket),
                        "the supervisor's status socket");
}

// Asks the supervisor for its status; an error text when it does not answer.
base::Result<mvf::supervisor::v1::SupervisorStatus> fetchStatus(const std::string& socket) {
  return fetchStatus(socket, std::chrono::system_clock::now() + std::chrono::seconds(3));
}

base::Result<mvf::supervisor::v1::SupervisorStatus> fetchStatus(
    const std::string& socket, std::chrono::system_clock::time_point deadline) {
  auto stub = mvf::supervisor::v1::Supervisor::NewStub(
      grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));
  mvf::supervisor::v1::SupervisorStatus status;
  // The chart's probes ask every 10 s: with a deadline on the wire, each would arm a timer
  // in the supervisor (rpc/unary_call.h says what that costs).
  grpc::Status result = rpc::callUntil(
      deadline,
      [&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return stub->AsyncGetStatus(context, {}, queue);
      },
      &status);
  if (!result.ok()) {
    return base::Error{"the supervisor does not answer on " + socket + ": " +
                       codeName(result.error_code()) +
                       (result.error_message().empty() ? "" : ": " + result.error_message())};
  }
  return status;
}

}  // namespace mvf::mvfctl
