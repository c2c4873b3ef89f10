// The small parsers of outside text: sysfs numbers (decimal and hex, as busnum, devnum,
// bDeviceClass and numa_node are read), durations and file modes of options, lists of env
// and INI values, USB selectors and port paths, PCI addresses, kernel releases. Each
// input goes to every one of them; the sanitizers and the round trips below judge.
#include <cstddef>
#include <cstdint>
#include <string>

#include "base/options.h"
#include "fuzz/fuzz_input.h"
#include "workers/core/host_fs.h"
#include "workers/igpu/gpus.h"
#include "workers/usb/usb_devices.h"
#include "workers/vfio/iommu_groups.h"

namespace mvf::fuzz {
namespace {

void values(std::string_view text) {
  core::parseNumber(text);
  core::parseNumber(text, 16);
  base::trim(text);
  for (const auto& item : base::splitList(text)) {
    check(!item.empty() && item == base::trim(item), "splitList gives trimmed, non-empty items");
  }
  if (auto duration = base::parseDuration(text)) {
    check(duration->count() >= 0, "a duration is never negative");
    check(base::parseDuration(base::formatDuration(*duration)) == duration,
          "formatDuration reads back as the same duration");
  }
  if (auto mode = base::parseFileMode(text)) check(*mode <= 0777, "a file mode is at most 0777");
  if (auto match = usb::parseUsbMatch(text)) {
    check(match->vendor.size() == 4 && match->product.size() == 4, "USB IDs are 4 hex digits");
    check(!match->serial || !match->serial->empty(), "a USB serial selector is never empty");
  }
  usb::isPortPath(text);
  if (auto address = igpu::normalizePciAddress(text)) {
    check(igpu::isPciAddress(*address), "a normalized PCI address is one");
  }
  vfio::parseKernelVersion(text);
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { values(text(data, size)); }

}  // namespace mvf::fuzz
