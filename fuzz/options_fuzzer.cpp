// Option parsing as a worker and the supervisor do it, from command line, environment and
// INI file together. The input is three parts split by lines "%%": the program ("x11",
// "udma", "vfio", "igpu", "usb" or "supervisor") and then its arguments, a line each;
// environment variables, NAME=VALUE a line each (the supervisor's read from its own
// environment, as it reads them); the INI file's text (given with
// --config when not empty). A worker's accepted options then make its config and its
// resource, as at its start.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>

#include "fuzz/fuzz_input.h"
#include "supervisor/config.h"
#include "workers/core/worker_config.h"
#include "workers/igpu/gpus.h"
#include "workers/udma/udmabuf.h"
#include "workers/usb/usb_devices.h"
#include "workers/vfio/iommu_groups.h"
#include "workers/x11/x11_displays.h"

namespace mvf::fuzz {
namespace {

// A dir of our own for the INI file, made at the first input and removed at exit.
struct ScratchDir {
  std::string path;
  ScratchDir() {
    char pattern[] = "/tmp/mvf-fuzz-XXXXXX";
    check(::mkdtemp(pattern) != nullptr, "a scratch dir can be made");
    path = pattern;
  }
  ~ScratchDir() {
    std::error_code error;
    std::filesystem::remove_all(path, error);
  }
};

const std::string& scratch() {
  static const ScratchDir dir;
  return dir.path;
}

const core::ResourceSpec* workerSpec(const std::string& name) {
  static const std::map<std::string, const core::ResourceSpec*> kSpecs = {{"x11", &x11::kSpec},
                                                                          {"udma", &udma::kSpec},
                                                                          {"vfio", &vfio::kSpec},
                                                                          {"igpu", &igpu::kSpec},
                                                                          {"usb", &usb::kSpec}};
  auto it = kSpecs.find(name);
  return it == kSpecs.end() ? nullptr : it->second;
}

void parse(std::string_view text) {
  std::vector<std::string> parts[3];
  size_t part = 0;
  std::string ini;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    if (line == "%%" && part < 2) {
      ++part;
    } else if (part == 2) {
      ini.append(line).append("\n");
    } else {
      parts[part].emplace_back(line);
    }
  }
  if (parts[0].empty()) return;
  std::string program = parts[0].front();
  std::vector<std::string> args(parts[0].begin() + 1, parts[0].end());
  std::map<std::string, std::string> env;
  for (const auto& line : parts[1]) {
    size_t equals = line.find('=');
    if (equals != std::string::npos) env[line.substr(0, equals)] = line.substr(equals + 1);
  }
  if (!ini.empty()) {
    std::string path = scratch() + "/config.ini";
    std::ofstream(path, std::ios::trunc) << ini;
    args.push_back("--config=" + path);
  }
  auto lookup = [&](const std::string& name) -> std::optional<std::string> {
    auto it = env.find(name);
    return it == env.end() ? std::nullopt : std::optional(it->second);
  };
  if (program == "supervisor") {
    // As the daemon reads them: from its own environment (the MVF_ variables, the only ones
    // it reads; set for this input only), into its config and its workers' arguments.
    std::vector<std::string> set;
    for (const auto& [name, value] : env) {
      if (name.rfind("MVF_", 0) == 0 && ::setenv(name.c_str(), value.c_str(), 1) == 0) {
        set.push_back(name);
      }
    }
    auto read = supervisor::readSupervisorOptions(args, scratch());
    if (read) read.value().options.settings.describe();
    for (const auto& name : set) ::unsetenv(name.c_str());
    return;
  }
  const core::ResourceSpec* spec = workerSpec(program);
  if (spec == nullptr) return;
  auto parsed =
      base::parseOptions(core::workerOptions(*spec), core::workerContext(*spec), args, lookup);
  if (!parsed || parsed.value().action != base::Action::kRun) return;
  const base::Settings& settings = parsed.value().settings;
  settings.describe();
  check(settings.digest().size() == 16, "a settings digest is 16 hex digits");
  if (core::makeWorkerConfig(*spec, settings)) spec->create(settings, core::HostFs(scratch()));
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { parse(text(data, size)); }

}  // namespace mvf::fuzz
