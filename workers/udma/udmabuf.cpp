#include "workers/udma/udmabuf.h"

namespace mvf::udma {

constexpr const char* kNode = "/dev/udmabuf";

core::Scan Udmabuf::scan() {
  core::Unit unit{.id = "udmabuf", .grant = {.nodes = {{kNode}}}};
  core::FileInfo node = host_.lstat(kNode);
  if (node.type == core::FileType::kMissing) {
    unit.problem = std::string(kNode) + " does not exist (is the udmabuf module loaded?)";
  } else if (node.type != core::FileType::kCharDevice) {
    unit.problem = std::string(kNode) + " is " + std::string(core::describe(node.type)) +
                   ", not a character device";
  }
  return {.units = {unit}};
}

const core::ResourceSpec kSpec{
    .name = "udma",
    .create = [](const core::Settings&, const core::HostFs& host)
        -> std::unique_ptr<core::Resource> { return std::make_unique<Udmabuf>(host); }};

}  // namespace mvf::udma
