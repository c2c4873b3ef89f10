#pragma once

// What mvfctl's commands share: output, option parsing, reaching a worker's socket and
// the supervisor's status socket. One file per command beside this one.
#include <boost/program_options.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "proto/deviceplugin.grpc.pb.h"
#include "proto/supervisor.grpc.pb.h"

namespace mvf::mvfctl {

namespace po = boost::program_options;

constexpr const char* kDefaultKubeletDir = "/var/lib/kubelet/device-plugins";
constexpr const char* kDefaultStatusSocket = "/run/mvf/status.sock";
// Where the kubelet serves its pod-resources API.
constexpr const char* kDefaultPodResourcesSocket = "/var/lib/kubelet/pod-resources/kubelet.sock";

// Prints one line to stdout, whole, whichever thread says it.
void say(const std::string& line);
// The same for text that ends its own lines.
void print(const std::string& text);

// Parses a command's options (no abbreviations) into `values`; the exit code to stop with
// (--help, a usage error), or nullopt to go on.
std::optional<int> parse(const std::vector<std::string>& args, po::options_description& options,
                         const po::positional_options_description& positional,
                         po::variables_map& values, const std::string& command);

// "a,b,,c" → {"a", "b", "c"}: the parts between separators, empty ones left out.

// A worker's socket: WORKER in --kubelet-dir, or --socket PATH.
struct Target {
  std::string socket;
};
void addTargetOptions(po::options_description& options);
// nullopt, with the reason printed, when neither was given.
std::optional<Target> target(const po::variables_map& values, const std::string& command);
std::unique_ptr<v1beta1::DevicePlugin::Stub> connect(const Target& target);

// "FAILED_PRECONDITION", as grpc/status.h names the code.
std::string codeName(grpc::StatusCode code);
// "Allocate on /…/udma.sock failed: INVALID_ARGUMENT: unknown device ID …"
std::string failure(const std::string& what, const Target& target, const grpc::Status& status);

// The supervisor's status socket option, and its answer (3 s at most, or by `deadline`).
void addStatusOptions(po::options_description& options);
base::Result<mvf::supervisor::v1::SupervisorStatus> fetchStatus(const std::string& socket);
base::Result<mvf::supervisor::v1::SupervisorStatus> fetchStatus(
    const std::string& socket, std::chrono::system_clock::time_point deadline);

// The commands: each takes the arguments after its name and returns the exit code.
int runKubelet(const std::vector<std::string>& args);
int runDevices(const std::vector<std::string>& args);
int runAllocate(const std::vector<std::string>& args);
int runStatus(const std::vector<std::string>& args);
int runHealth(const std::vector<std::string>& args);
int runAllocations(const std::vector<std::string>& args);

}  // namespace mvf::mvfctl
