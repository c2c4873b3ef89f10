#include "workers/igpu/gpus.h"

#include <algorithm>
#include <cctype>
#include <map>

#include "base/format.h"
#include "base/logging.h"
#include "base/options.h"
#include "base/quote.h"

namespace mvf::igpu {
namespace {

constexpr const char* kIntel = "0x8086";
constexpr const char* kIntegratedAddress = "0000:00:02.0";

struct Gpu {
  std::string address;
  std::string vendor;
  core::Unit unit;
};

// "card3" → true; "card0-HDMI-A-1" (a connector) and "renderD128" → false.
bool isCard(const std::string& name) {
  return name.size() > 4 && name.rfind("card", 0) == 0 &&
         base::isDigits(std::string_view(name).substr(4));
}

bool isRender(const std::string& name) {
  return name.size() > 7 && name.rfind("renderD", 0) == 0 &&
         base::isDigits(std::string_view(name).substr(7));
}

}  // namespace

bool isPciAddress(std::string_view text) {
  // dddd:bb:dd.f
  return text.size() == 12 && text[4] == ':' && text[7] == ':' && text[10] == '.' &&
         base::isHexDigits(text.substr(0, 4)) && base::isHexDigits(text.substr(5, 2)) &&
         base::isHexDigits(text.substr(8, 2)) && text[11] >= '0' && text[11] <= '7';
}

std::optional<std::string> normalizePciAddress(std::string_view text) {
  std::string address = base::trim(text);
  for (char& c : address) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (address.size() == 7) address = "0000:" + address;
  if (!isPciAddress(address)) return std::nullopt;
  return address;
}

Gpus::Gpus(core::HostFs host, core::Mode mode, std::string pciAddress, bool anyVendor)
    : Resource(std::move(host)),
      mode_(mode),
      pciAddress_(std::move(pciAddress)),
      anyVendor_(anyVendor) {}

core::Scan Gpus::scan() {
  auto log = base::logger("igpu");
  std::map<std::string, Gpu> gpus;      // by PCI address, so sorted by address
  std::vector<std::string> unreadable;  // what could not be read, and why
  auto listed = host_.entries("/sys/class/drm");
  if (!listed) unreadable.push_back(listed.error().message);
  std::vector<std::string> cards = listed ? std::move(listed).value() : std::vector<std::string>{};
  for (const auto& card : cards) {
    if (!isCard(card)) continue;
    std::string devicePath = "/sys/class/drm/" + card + "/device";
    auto resolved = host_.resolve(devicePath, /*followLast=*/true);
    std::string address = resolved ? resolved->substr(resolved->rfind('/') + 1) : "";
    if (!isPciAddress(address)) {
      log->debug("ignoring {}: not a PCI device", devicePath);
      continue;
    }
    if (gpus.contains(address)) continue;
    auto opened = host_.dir(*resolved);
    if (!opened) {
      unreadable.push_back(opened.error().message);
      continue;
    }
    const core::HostDir* device = &opened.value();
    auto vendor = device->attribute("vendor");
    auto pciClass = device->attribute("class");
    if (!vendor || !pciClass) {
      unreadable.push_back(*resolved + "/" + (!vendor ? vendor : pciClass).error().message);
      continue;
    }
    if (pciClass.value().rfind("0x03", 0) != 0) {
      log->debug("ignoring {} ({}): not a display-class PCI function", card, address);
      continue;
    }
    if (device->exists("physfn")) {
      log->debug("ignoring {} ({}): an SR-IOV virtual function", card, address);
      continue;
    }
    Gpu gpu{.address = address, .vendor = vendor.value(), .unit = {.id = address}};
    gpu.unit.numaNode = core::numaNodeOf(*device);
    std::vector<std::string> nodes;
    auto drm = host_.entries(*resolved + "/drm");
    for (const auto& name : drm ? drm.value() : std::vector<std::string>{}) {
      if (isCard(name) || isRender(name)) nodes.push_back(name);
    }
    for (const auto& name : nodes) {
      std::string node = "/dev/dri/" + name;
      core::FileType type = host_.lstat(node);
      if (type != core::FileType::kCharDevice && gpu.unit.problem.empty()) {
        gpu.unit.problem =
            node + " is " + std::string(core::describe(type)) + ", not a character device";
      }
      gpu.unit.grant.nodes.push_back({node});
    }
    if (!drm) {
      gpu.unit.problem = drm.error().message;
    } else if (nodes.empty()) {
      gpu.unit.problem = *resolved + "/drm lists no card or render node";
    }
    gpus.emplace(address, std::move(gpu));
  }

  // Which GPUs this worker hands out.
  std::vector<const Gpu*> chosen;
  std::string why;
  auto vendorOk = [&](const Gpu& gpu) { return anyVendor_ || gpu.vendor == kIntel; };
  if (!pciAddress_.empty()) {
    auto it = gpus.find(pciAddress_);
    selectors_.report("--igpu-pci " + pciAddress_,
                      it == gpus.end() ? std::vector<std::string>{} : std::vector{pciAddress_});
    if (it == gpus.end()) {
      why = "no display-class PCI device " + pciAddress_ + " with a DRM card (--igpu-pci)";
    } else if (!vendorOk(it->second)) {
      why = pciAddress_ + " is not an Intel GPU (vendor " +
            base::quote(it->second.vendor, base::kQuoteLimit, base::Quotes::kIfNeeded) +
            "); --igpu-vendor any admits it";
    } else {
      chosen.push_back(&it->second);
    }
  } else if (mode_ == core::Mode::kExclusive) {
    for (const auto& [address, gpu] : gpus) {
      if (vendorOk(gpu)) chosen.push_back(&gpu);
    }
  } else {
    auto integrated = gpus.find(kIntegratedAddress);
    if (integrated != gpus.end() && vendorOk(integrated->second)) {
      chosen.push_back(&integrated->second);
    } else {
      for (const auto& [address, gpu] : gpus) {
        if (!vendorOk(gpu)) continue;
        chosen.push_back(&gpu);
        break;
      }
    }
  }
  if (chosen.empty() && why.empty()) {
    why = std::string("no ") + (anyVendor_ ? "" : "Intel ") +
          "display-class PCI device with a DRM card in /sys/class/drm";
  }
  // Whatever could not be read may be the GPU looked for: said, not taken for absence.
  if (chosen.empty() && !unreadable.empty()) {
    why = listed ? why + "; " + fmt::format("{}", fmt::join(unreadable, "; ")) : unreadable.front();
  }

  std::vector<std::string> addresses;
  for (const Gpu* gpu : chosen) addresses.push_back(gpu->address);
  std::string choice = fmt::format("{}", fmt::join(addresses, ", "));
  if (choice != lastChoice_) {
    if (mode_ == core::Mode::kShared && pciAddress_.empty() && !chosen.empty() &&
        chosen.front()->address != kIntegratedAddress) {
      log->info("using GPU {}: there is no {} GPU at {}, and this one may be a discrete card",
                choice, anyVendor_ ? "usable" : "Intel", kIntegratedAddress);
    } else if (!choice.empty()) {
      log->info("using GPU {}", choice);
    }
    lastChoice_ = choice;
  }

  core::Scan scan;
  for (const Gpu* gpu : chosen) scan.units.push_back(gpu->unit);
  scan.missing = why;
  return scan;
}

const core::ResourceSpec kSpec{
    .name = "igpu",
    .hasExclusiveMode = true,
    .options = {{"igpu-pci", "", "the GPU's PCI address, e.g. 0000:00:02.0",
                 base::Scope::kOwnSection,
                 [](std::string_view text) -> std::string {
                   return normalizePciAddress(text) ? ""
                                                    : "expected a PCI address like 0000:00:02.0";
                 }},
                {"igpu-vendor", "intel", "intel, or any to admit a GPU of another vendor",
                 base::Scope::kOwnSection, base::oneOf({"intel", "any"})}},
    .create = [](const base::Settings& settings,
                 const core::HostFs& host) -> std::unique_ptr<core::Resource> {
      std::string pci = settings.has("igpu-pci") ? *normalizePciAddress(settings.text("igpu-pci"))
                                                 : std::string();
      return std::make_unique<Gpus>(host, core::modeOf(settings), pci,
                                    settings.text("igpu-vendor") == "any");
    }};

}  // namespace mvf::igpu
