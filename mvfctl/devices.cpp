// mvfctl devices: what a worker advertises, from its first ListAndWatch message (or every one).
#include <atomic>
#include <future>
#include <iostream>
#include <thread>

#include "base/process.h"
#include "mvfctl/command.h"
#include "rpc/unary_call.h"

namespace mvf::mvfctl {

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
  if (!where) return base::kExitUsage;

  auto stub = connect(*where);
  v1beta1::DevicePluginOptions pluginOptions;
  grpc::Status status = rpc::callUntil(
      std::chrono::system_clock::now() + std::chrono::seconds(5),
      [&](grpc::ClientContext* context, grpc::CompletionQueue* queue) {
        return stub->AsyncGetDevicePluginOptions(context, v1beta1::Empty(), queue);
      },
      &pluginOptions);
  if (!status.ok()) {
    std::cerr << "mvfctl: " << failure("GetDevicePluginOptions", *where, status) << "\n";
    return base::kExitFailure;
  }
  say(std::string("options: pre_start_required=") +
      (pluginOptions.pre_start_required() ? "true" : "false") +
      " get_preferred_allocation_available=" +
      (pluginOptions.get_preferred_allocation_available() ? "true" : "false"));

  bool watch = values.count("watch") > 0;
  grpc::ClientContext context;
  // Without --watch, a worker that sends no list within 5 s has the stream cancelled from
  // here: no deadline on the wire (rpc/unary_call.h says why).
  std::promise<void> read;
  std::atomic<bool> gaveUp = false;
  std::thread watchdog;
  if (!watch) {
    watchdog = std::thread([&context, &gaveUp, done = read.get_future()] {
      if (done.wait_for(std::chrono::seconds(5)) == std::future_status::ready) return;
      gaveUp = true;
      context.TryCancel();
    });
  }
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
  read.set_value();
  if (watchdog.joinable()) watchdog.join();
  if (gaveUp && !any && status.error_code() == grpc::StatusCode::CANCELLED) {
    status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
  }
  if (!any) {
    std::cerr << "mvfctl: " << failure("ListAndWatch", *where, status) << "\n";
    return base::kExitFailure;
  }
  if (watch) {
    // The worker ends every stream, with OK, before it registers again with a restarted
    // kubelet (docs/architecture.md, "What the kubelet does").
    if (!status.ok()) {
      std::cerr << "mvfctl: " << failure("ListAndWatch", *where, status) << "\n";
      return base::kExitFailure;
    }
    std::cerr << "mvfctl: the worker ended the stream (it does before registering again); "
                 "run again to go on watching\n";
  }
  return base::kExitOk;
}

}  // namespace mvf::mvfctl
