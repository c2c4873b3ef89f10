#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>

#include "workers/core/resource.h"
#include "workers/core/selector_report.h"

namespace mvf::x11 {

// intel.com/x11: the host X server's display sockets /tmp/.X11-unix/X<N>. A display is
// usable while something accepts a connection on its socket (a dead X server leaves a
// socket that refuses, and no filesystem event: the worker holds a connection to each
// usable display, whose hang-up tells, and Allocate connects again). A container gets
// /tmp/.X11-unix mounted read-only — clients still connect through it, and no pod can replace or
// delete the host's sockets — and DISPLAY for the lowest usable display, or the one --display pins;
// with --xauthority, that file read-only too, and XAUTHORITY.
class X11Displays final : public core::Resource {
 public:
  X11Displays(core::HostFs host, std::optional<int> display, std::string xauthority);

  core::Scan scan() override;
  std::vector<std::string> watchDirs() const override { return {kSocketDir}; }
  // DISPLAY names one display: the lowest usable one (units come sorted).
  core::Grant compose(const std::vector<const core::Unit*>& units) const override;
  // Something accepts on the display's socket, and the --xauthority file is there.
  std::string recheck(const core::Unit& unit) const override;

  static constexpr const char* kSocketDir = "/tmp/.X11-unix";

 private:
  // Why --xauthority makes every display unusable now, or "".
  std::string xauthorityProblem() const;

  const std::optional<int> display_;
  const std::string xauthority_;
  // Sockets that refused when first seen, and since when: an X server creates its socket
  // before it listens, so these are rechecked for a moment before counting as stale.
  std::map<std::string, std::chrono::steady_clock::time_point> refusing_;
  core::SelectorReport selectors_{"x11"};
};

extern const core::ResourceSpec kSpec;

}  // namespace mvf::x11
