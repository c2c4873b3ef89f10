// mvfctl: the command-line client. `kubelet` runs the kubelet stand-in; `devices` and
// `allocate` talk to one worker's socket directly, for debugging a worker on a node.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <variant>

#include "base/json.h"
#include "base/options.h"
#include "base/signals.h"
#include "base/version.h"
#include "kubelet_stand_in/kubelet_stand_in.h"
#include "proto/deviceplugin.grpc.pb.h"
#include "proto/supervisor.grpc.pb.h"

namespace po = boost::program_options;

namespace {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 64;  // sysexits EX_USAGE
constexpr const char* kDefaultKubeletDir = "/var/lib/kubelet/device-plugins";

const char* kUsage = R"(Usage: mvfctl <command> [options]

Commands:
  kubelet --dir DIR              run a kubelet stand-in on DIR/kubelet.sock; prints
                                 registrations and capacity like `kubectl describe node`.
                                 SIGHUP restarts it the way a kubelet restarts.
  devices WORKER|--socket PATH   list the devices a worker advertises (its first
                                 ListAndWatch message); --watch keeps printing updates
  allocate WORKER|--socket PATH IDS...
                                 call Allocate: each IDS argument (comma-separated IDs)
                                 is one container request; prints the response as JSON
  status [--json]                the supervisor's status: every worker's state, pid,
                                 restarts, last exit, registration and devices
  health [--ready]               exit 0 if the supervisor answers (liveness); with
                                 --ready, only if every enabled worker is registered
  --version                      print the version

WORKER is x11, udma, vfio, igpu or usb: its socket in --kubelet-dir
(default /var/lib/kubelet/device-plugins). status and health take --status-socket
(default /run/mvf/status.sock). Run `mvfctl <command> --help` for options.
)";

std::mutex outputMu;
void say(const std::string& line) {
  std::lock_guard lock(outputMu);
  std::cout << line << std::endl;
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
    po::notify(values);
  } catch (const po::error& e) {
    std::cerr << "mvfctl " << command << ": " << e.what() << "\n";
    return kExitUsage;
  }
  if (values.count("help")) {
    std::cout << "Usage: mvfctl " << command << " [options]\n" << options;
    return kExitOk;
  }
  return std::nullopt;
}

int runKubelet(const std::vector<std::string>& args) {
  po::options_description options("kubelet options");
  options.add_options()("dir", po::value<std::string>()->required(), "the plugin dir")(
      "grace-period", po::value<std::string>()->default_value("5m"),
      "how long a disconnected resource keeps its capacity");
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "kubelet")) return *code;
  auto grace = mvf::base::parseDuration(values["grace-period"].as<std::string>());
  if (!grace) {
    std::cerr << "mvfctl kubelet: invalid --grace-period, expected e.g. 30s or 5m\n";
    return kExitUsage;
  }

  // SIGHUP restarts the stand-in; SIGINT and SIGTERM end it.
  mvf::base::UniqueFd signals =
      mvf::base::blockedSignalFd({SIGINT, SIGTERM, SIGHUP}, /*nonBlocking=*/false);
  std::string lastTable;
  mvf::kubelet::KubeletStandIn* standInPtr = nullptr;
  mvf::kubelet::KubeletStandIn::Options standInOptions;
  standInOptions.gracePeriod = *grace;
  standInOptions.onEvent = [&](const std::string& event) {
    say("[kubelet] " + event);
    if (standInPtr == nullptr) return;
    std::string table = standInPtr->describeNode();
    std::lock_guard lock(outputMu);
    if (table != lastTable && !standInPtr->node().empty()) {
      lastTable = table;
      std::cout << table << std::flush;
    }
  };
  mvf::kubelet::KubeletStandIn standIn(values["dir"].as<std::string>(), standInOptions);
  standInPtr = &standIn;
  if (std::string error = standIn.start(); !error.empty()) {
    std::cerr << "mvfctl kubelet: " << error << "\n";
    return kExitFailure;
  }
  signalfd_siginfo info{};
  while (::read(signals.get(), &info, sizeof(info)) == sizeof(info)) {
    if (info.ssi_signo != SIGHUP) break;
    say("[kubelet] SIGHUP: restarting like a kubelet restart");
    if (std::string error = standIn.restart(); !error.empty()) {
      std::cerr << "mvfctl kubelet: " << error << "\n";
      return kExitFailure;
    }
  }
  standIn.stop();
  return kExitOk;
}

struct Target {
  std::string socket;
};

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

// The name of a gRPC status code, as grpc/status.h spells it.
std::string codeName(grpc::StatusCode code) {
  static const char* kNames[] = {"OK",
                                 "CANCELLED",
                                 "UNKNOWN",
                                 "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED",
                                 "NOT_FOUND",
                                 "ALREADY_EXISTS",
                                 "PERMISSION_DENIED",
                                 "RESOURCE_EXHAUSTED",
                                 "FAILED_PRECONDITION",
                                 "ABORTED",
                                 "OUT_OF_RANGE",
                                 "UNIMPLEMENTED",
                                 "INTERNAL",
                                 "UNAVAILABLE",
                                 "DATA_LOSS",
                                 "UNAUTHENTICATED"};
  auto index = static_cast<size_t>(code);
  return index < std::size(kNames) ? kNames[index] : "code " + std::to_string(index);
}

std::string failure(const std::string& what, const Target& target, const grpc::Status& status) {
  return what + " on " + target.socket + " failed: " + codeName(status.error_code()) + ": " +
         status.error_message();
}

void printDevices(const v1beta1::ListAndWatchResponse& list, bool all) {
  int healthy = 0;
  for (const auto& device : list.devices()) healthy += device.health() == "Healthy";
  say(std::to_string(list.devices_size()) + " devices, " + std::to_string(healthy) + " healthy");
  constexpr int kShown = 10;
  for (int i = 0; i < list.devices_size(); ++i) {
    if (!all && i == kShown) {
      say("... " + std::to_string(list.devices_size() - kShown) + " more (--all lists them)");
      break;
    }
    const auto& device = list.devices(i);
    std::string numa;
    for (const auto& node : device.topology().nodes()) numa += " numa=" + std::to_string(node.id());
    say("  " + device.id() + "  " + device.health() + numa);
  }
}

int runDevices(const std::vector<std::string>& args) {
  po::options_description options("devices options");
  addTargetOptions(options);
  options.add_options()("all", "list every device")("watch", "keep printing updates");
  po::positional_options_description positional;
  positional.add("worker", 1);
  po::variables_map values;
  if (auto code = parse(args, options, positional, values, "devices")) return *code;
  auto where = target(values, "devices");
  if (!where) return kExitUsage;

  auto stub = connect(*where);
  grpc::ClientContext optionsContext;
  optionsContext.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  v1beta1::DevicePluginOptions pluginOptions;
  grpc::Status status =
      stub->GetDevicePluginOptions(&optionsContext, v1beta1::Empty(), &pluginOptions);
  if (!status.ok()) {
    std::cerr << "mvfctl: " << failure("GetDevicePluginOptions", *where, status) << "\n";
    return kExitFailure;
  }
  say(std::string("options: pre_start_required=") +
      (pluginOptions.pre_start_required() ? "true" : "false") +
      " get_preferred_allocation_available=" +
      (pluginOptions.get_preferred_allocation_available() ? "true" : "false"));

  bool watch = values.count("watch") > 0;
  grpc::ClientContext context;
  if (!watch) context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto reader = stub->ListAndWatch(&context, v1beta1::Empty());
  v1beta1::ListAndWatchResponse list;
  bool any = false;
  while (reader->Read(&list)) {
    any = true;
    printDevices(list, values.count("all") > 0);
    if (!watch) {
      context.TryCancel();
      break;
    }
  }
  status = reader->Finish();
  if (!any) {
    std::cerr << "mvfctl: " << failure("ListAndWatch", *where, status) << "\n";
    return kExitFailure;
  }
  return kExitOk;
}

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
  if (!where) return kExitUsage;

  v1beta1::AllocateRequest request;
  if (values.count("ids")) {
    for (const auto& group : values["ids"].as<std::vector<std::string>>()) {
      auto* container = request.add_container_requests();
      size_t start = 0;
      while (start <= group.size()) {
        size_t comma = std::min(group.find(',', start), group.size());
        if (comma > start) container->add_devices_ids(group.substr(start, comma - start));
        start = comma + 1;
      }
    }
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1beta1::AllocateResponse response;
  grpc::Status status = connect(*where)->Allocate(&context, request, &response);
  if (!status.ok()) {
    std::cerr << "mvfctl: " << failure("Allocate", *where, status) << "\n";
    return kExitFailure;
  }
  std::cout << mvf::base::toJson(response, /*pretty=*/true);
  return kExitOk;
}

void addStatusOptions(po::options_description& options) {
  options.add_options()("status-socket",
                        po::value<std::string>()->default_value("/run/mvf/status.sock"),
                        "the supervisor's status socket");
}

// Asks the supervisor for its status; an error text when it does not answer.
std::variant<mvf::supervisor::v1::SupervisorStatus, std::string> fetchStatus(
    const std::string& socket) {
  auto stub = mvf::supervisor::v1::Supervisor::NewStub(
      grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(3));
  mvf::supervisor::v1::SupervisorStatus status;
  grpc::Status result = stub->GetStatus(&context, {}, &status);
  if (!result.ok()) {
    return "the supervisor does not answer on " + socket + ": " + result.error_message();
  }
  return status;
}

std::string ago(int64_t unixMs) {
  if (unixMs == 0) return "-";
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fs", static_cast<double>(unixMs - now) / 1000.0);
  return text;
}

std::string exitText(const mvf::supervisor::v1::ExitInfo& exit) {
  if (exit.at_unix_ms() == 0) return "-";
  std::string text = exit.signaled() ? exit.signal_name() + (exit.core_dumped() ? " (core)" : "")
                                     : "exit " + std::to_string(exit.exit_code());
  return exit.reason().empty() ? text : text + " (" + exit.reason() + ")";
}

int runStatus(const std::vector<std::string>& args) {
  po::options_description options("status options");
  addStatusOptions(options);
  options.add_options()("json", "print the status as JSON (protobuf's JSON mapping)");
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "status")) return *code;
  auto fetched = fetchStatus(values["status-socket"].as<std::string>());
  if (auto* error = std::get_if<std::string>(&fetched)) {
    std::cerr << "mvfctl: " << *error << "\n";
    return kExitFailure;
  }
  const auto& status = std::get<mvf::supervisor::v1::SupervisorStatus>(fetched);
  if (values.count("json")) {
    std::cout << mvf::base::toJson(status, /*pretty=*/true);
    return kExitOk;
  }
  std::printf("mvf-supervisor %s, pid %d, up %.1fs: %s\n", status.version().c_str(), status.pid(),
              static_cast<double>(status.uptime_ms()) / 1000.0,
              mvf::supervisor::v1::SupervisorStatus::Overall_Name(status.overall()).c_str());
  std::printf("%-6s %-9s %-7s %-10s %-11s %-9s %-8s %s\n", "WORKER", "STATE", "PID", "REGISTERED",
              "DEVICES", "RESTARTS", "NEXT", "LAST EXIT");
  for (const auto& worker : status.workers()) {
    std::string state = mvf::supervisor::v1::WorkerStatus::State_Name(worker.state());
    if (worker.crash_looping()) state += "!";
    std::string devices =
        std::to_string(worker.devices_healthy()) + "/" + std::to_string(worker.devices_total());
    std::printf("%-6s %-9s %-7s %-10s %-11s %-9u %-8s %s\n", worker.name().c_str(), state.c_str(),
                worker.pid() ? std::to_string(worker.pid()).c_str() : "-",
                worker.registered()
                    ? ("yes (" + std::to_string(worker.times_registered()) + ")").c_str()
                    : "no",
                devices.c_str(), worker.restarts(),
                worker.state() == mvf::supervisor::v1::WorkerStatus::backoff
                    ? ago(worker.next_restart_at_unix_ms()).c_str()
                    : "-",
                exitText(worker.last_exit()).c_str());
    if (!worker.failed_reason().empty()) std::printf("       %s\n", worker.failed_reason().c_str());
  }
  return kExitOk;
}

int runHealth(const std::vector<std::string>& args) {
  po::options_description options("health options");
  addStatusOptions(options);
  options.add_options()("ready", "readiness: every enabled worker registered with the kubelet");
  po::variables_map values;
  if (auto code = parse(args, options, {}, values, "health")) return *code;
  auto fetched = fetchStatus(values["status-socket"].as<std::string>());
  if (auto* error = std::get_if<std::string>(&fetched)) {
    std::cout << "not alive: " << *error << "\n";
    return kExitFailure;
  }
  const auto& status = std::get<mvf::supervisor::v1::SupervisorStatus>(fetched);
  if (!values.count("ready")) {
    std::cout << "alive: mvf-supervisor pid " << status.pid() << " answers\n";
    return kExitOk;
  }
  std::string missing;
  for (const auto& worker : status.workers()) {
    if (worker.registered()) continue;
    missing += (missing.empty() ? "" : ", ") + worker.name() + " (" +
               mvf::supervisor::v1::WorkerStatus::State_Name(worker.state()) + ")";
  }
  if (!missing.empty()) {
    std::cout << "not ready: not registered with the kubelet: " << missing << "\n";
    return kExitFailure;
  }
  std::cout << "ready: all " << status.workers_size() << " workers registered\n";
  return kExitOk;
}

}  // namespace

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "help") {
    std::cout << kUsage;
    return args.empty() ? kExitUsage : kExitOk;
  }
  if (args[0] == "--version") {
    std::cout << "mvfctl " << mvf::base::kVersion << "\n";
    return kExitOk;
  }
  std::string command = args[0];
  args.erase(args.begin());
  if (command == "kubelet") return runKubelet(args);
  if (command == "devices") return runDevices(args);
  if (command == "allocate") return runAllocate(args);
  if (command == "status") return runStatus(args);
  if (command == "health") return runHealth(args);
  std::cerr << "mvfctl: unknown command '" << command << "'\n" << kUsage;
  return kExitUsage;
}
