#include "workers/udma/udmabuf.h"

namespace mvf::udma {

constexpr const char* kNode = "/dev/udmabuf";

core::Scan Udmabuf::scan() {
  core::Unit unit{.id = "udmabuf", .grant = {.nodes = {{kNode}}}};
  auto type = host_.typeOf(kNode);
  core::FileType node = type ? type.value() : core::FileType::kUnreadable;
  if (!type) {
    unit.problem = type.error().message;  // not the same as a missing module
  } else if (node == core::FileType::kMissing) {
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
