#pragma once

#include "workers/core/resource.h"

namespace mvf::udma {

// intel.com/udma: the host's /dev/udmabuf, usable while it is a character device. The
// old Go plugin also required /dev/vfio before advertising it; udmabuf does not depend
// on VFIO, so this one does not.
class Udmabuf final : public core::Resource {
 public:
  explicit Udmabuf(core::HostFs host) : Resource(std::move(host)) {}

  core::Scan scan() override;
  std::vector<std::string> watchDirs() const override { return {"/dev"}; }
};

extern const core::ResourceSpec kSpec;

}  // namespace mvf::udma
