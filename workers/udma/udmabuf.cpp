#include "workers/udma/udmabuf.h"

namespace mvf::udma {

constexpr const char* kNode = "/dev/udmabuf";

core::Scan Udmabuf::scan() {
  core::Unit unit{.id = "udmabuf", .grant = {.nodes = {{kNode}}}};
  core::FileType node = host_.lstat(kNode);
  if (node == core::FileType::kMissing) {
    unit.problem = std::string(kNode) + " does not exist (is the udmabuf module loaded?)";
  } else if (node != core::FileType::kCharDevice) {
    unit.problem = std::string(kNode) + " is " + std::string(core::describe(node)) +
                   ", not a character device";
  }
  return {.units = {unit}};
}

const core::ResourceSpec kSpec{
    .name = "udma",
    .create = [](const base::Settings&, const core::HostFs& host)
        -> std::unique_ptr<core::Resource> { return std::make_unique<Udmabuf>(host); }};

}  // namespace mvf::udma
