#include "workers/usb/usb_devices.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <map>

#include "base/format.h"
#include "base/logging.h"
#include "base/options.h"
#include "base/quote.h"

namespace mvf::usb {
namespace {

constexpr const char* kDevices = "/sys/bus/usb/devices";
constexpr const char* kBusDir = "/dev/bus/usb";
constexpr int64_t kHubClass = 0x09;

bool isHexId(std::string_view text) { return text.size() == 4 && base::isHexDigits(text); }

std::string lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

std::optional<UsbMatch> parseUsbMatch(std::string_view text) {
  size_t first = text.find(':');
  if (first == std::string_view::npos) return std::nullopt;
  size_t second = text.find(':', first + 1);
  std::string vendor = base::trim(text.substr(0, first));
  std::string product = base::trim(text.substr(
      first + 1, second == std::string_view::npos ? std::string_view::npos : second - first - 1));
  if (!isHexId(vendor) || !isHexId(product)) return std::nullopt;
  UsbMatch match{std::string(text), lower(vendor), lower(product), std::nullopt};
  if (second != std::string_view::npos) {
    // Trimmed as HostDir::read() trims the sysfs attribute it is compared with.
    std::string serial = base::trim(text.substr(second + 1));
    if (serial.empty()) return std::nullopt;
    match.serial = serial;
  }
  return match;
}

bool isPortPath(std::string_view name) {
  size_t dash = name.find('-');
  if (dash == std::string_view::npos || !base::isDigits(name.substr(0, dash))) return false;
  std::string_view ports = name.substr(dash + 1);
  size_t start = 0;
  while (true) {
    size_t dot = ports.find('.', start);
    if (!base::isDigits(ports.substr(start, dot == std::string_view::npos ? dot : dot - start))) {
      return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

UsbDevices::UsbDevices(core::HostFs host, std::vector<UsbMatch> matches, bool hubs)
    : Resource(std::move(host)), matches_(std::move(matches)), hubs_(hubs) {}

std::vector<std::string> UsbDevices::watchDirs() const {
  std::vector<std::string> dirs{kBusDir};
  for (const auto& bus : host_.list(kBusDir)) dirs.push_back(std::string(kBusDir) + "/" + bus);
  return dirs;
}

core::Scan UsbDevices::scan() {
  core::Scan scan;
  warnings_.begin();
  // Node types per bus dir, from one readdir each: "001" → {"002" → char device, …}.
  std::map<std::string, std::map<std::string, core::FileType>> nodes;
  bool serials = std::any_of(matches_.begin(), matches_.end(),
                             [](const UsbMatch& match) { return match.serial.has_value(); });
  std::vector<std::vector<std::string>> selected(matches_.size());  // per selector: unit IDs
  std::map<std::string, std::string> busProblems;  // bus dir → why it cannot be read
  size_t ignored = 0;  // devices skipped as unreadable or not valid, each with a warning
  auto listed = host_.entries(kDevices);
  std::vector<std::string> names = listed ? std::move(listed).value() : std::vector<std::string>{};
  for (const auto& name : names) {
    if (!isPortPath(name)) continue;  // root hubs usbN, interfaces 1-2:1.0
    std::string path = std::string(kDevices) + "/" + base::quote(name, 64, base::Quotes::kIfNeeded);
    auto opened = host_.dir(std::string(kDevices) + "/" + name);
    if (!opened) {
      warnings_.warn("ignoring " + path + ": " + std::strerror(opened.error().code));
      ++ignored;
      continue;
    }
    const core::HostDir& device = opened.value();
    std::string unreadable;  // the first attribute that cannot be read, and why
    auto attribute = [&](const char* file) {
      auto value = device.attribute(file);
      if (value) return std::move(value).value();
      if (unreadable.empty()) unreadable = value.error().message;
      return std::string();
    };
    auto bus = core::parseNumber(attribute("busnum"));
    auto devnum = core::parseNumber(attribute("devnum"));
    std::string vendor = attribute("idVendor");
    std::string product = attribute("idProduct");
    auto deviceClass = core::parseNumber(attribute("bDeviceClass"), 16);
    if (!unreadable.empty()) {
      warnings_.warn("ignoring " + path + ": " + unreadable);
      ++ignored;
      continue;
    }
    std::vector<std::string> invalid;  // the attributes that are not what the kernel writes
    if (!bus || *bus < 1 || *bus > 999) invalid.push_back("busnum");
    if (!devnum || *devnum < 1 || *devnum > 999) invalid.push_back("devnum");
    if (!isHexId(vendor)) invalid.push_back("idVendor");
    if (!isHexId(product)) invalid.push_back("idProduct");
    if (!deviceClass) invalid.push_back("bDeviceClass");
    if (!invalid.empty()) {
      warnings_.warn(fmt::format("ignoring {}: {} not valid", path, fmt::join(invalid, ", ")));
      ++ignored;
      continue;
    }
    if (*deviceClass == kHubClass && !hubs_) continue;
    auto serial = serials ? device.read("serial") : std::nullopt;
    bool wanted = matches_.empty();
    for (size_t i = 0; i < matches_.size(); ++i) {
      const UsbMatch& match = matches_[i];
      if (match.vendor == lower(vendor) && match.product == lower(product) &&
          (!match.serial || match.serial == serial)) {
        selected[i].push_back("usb-" + name);
        wanted = true;
      }
    }
    if (!wanted) continue;

    char busDir[8], nodeName[8];
    std::snprintf(busDir, sizeof(busDir), "%03d", static_cast<int>(*bus));
    std::snprintf(nodeName, sizeof(nodeName), "%03d", static_cast<int>(*devnum));
    std::string node = std::string(kBusDir) + "/" + busDir + "/" + nodeName;
    core::Unit unit{.id = "usb-" + name};
    unit.grant.nodes.push_back({node});
    unit.grant.envs.emplace_back(kEnv, std::to_string(*bus) + ":" + std::to_string(*devnum));
    if (!nodes.contains(busDir)) {
      auto dir = host_.dir(std::string(kBusDir) + "/" + busDir);
      nodes[busDir] = dir ? dir.value().types() : std::map<std::string, core::FileType>{};
      if (!dir) busProblems[busDir] = dir.error().message;
    }
    auto type = nodes[busDir].find(nodeName);
    core::FileType found = type == nodes[busDir].end() ? core::FileType::kMissing : type->second;
    if (auto problem = busProblems.find(busDir); problem != busProblems.end()) {
      unit.problem = problem->second;
    } else if (found != core::FileType::kCharDevice) {
      unit.problem =
          node + " is " + std::string(core::describe(found)) + ", not a character device";
    }
    scan.units.push_back(std::move(unit));
  }
  warnings_.end();
  for (size_t i = 0; i < matches_.size(); ++i) {
    selectors_.report("--usb-match " + matches_[i].text, selected[i]);
  }
  if (!listed) {
    scan.missing = listed.error().message;  // not the same as finding nothing
  } else if (scan.units.empty() && ignored > 0) {
    scan.missing = fmt::format(
        "no usable USB device in /sys/bus/usb/devices: {} ignored as unreadable or not valid",
        ignored);
  } else if (scan.units.empty()) {
    scan.missing = matches_.empty() ? "no USB device other than hubs in /sys/bus/usb/devices"
                                    : "no USB device matches --usb-match";
  }
  return scan;
}

const core::ResourceSpec kSpec{
    .name = "usb",
    .hasExclusiveMode = true,
    .options = {{"usb-match", "",
                 "VID:PID[:SERIAL] of devices to hand out (repeatable; default: every non-hub "
                 "device)",
                 base::Scope::kOwnSection,
                 [](std::string_view text) -> std::string {
                   return parseUsbMatch(text)
                              ? ""
                              : "expected VID:PID or VID:PID:SERIAL, e.g. 0627:0001";
                 },
                 /*repeatable=*/true},
                {"usb-hubs", "false", "true to hand out hubs too", base::Scope::kOwnSection,
                 base::oneOf({"true", "false"})}},
    .create = [](const base::Settings& settings,
                 const core::HostFs& host) -> std::unique_ptr<core::Resource> {
      std::vector<UsbMatch> matches;
      for (const auto& text : settings.list("usb-match")) matches.push_back(*parseUsbMatch(text));
      return std::make_unique<UsbDevices>(host, std::move(matches),
                                          settings.text("usb-hubs") == "true");
    }};

}  // namespace mvf::usb
