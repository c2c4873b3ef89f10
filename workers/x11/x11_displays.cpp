#include "workers/x11/x11_displays.h"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/logging.h"
#include "base/options.h"

namespace mvf::x11 {
namespace {

using namespace std::chrono_literals;

// How long a refusing socket counts as "its server is still starting".
constexpr auto kStartupGrace = 2s;

// "X12" → 12; nullopt for anything that is not X followed by at most 4 digits, written
// as an X server writes them: no leading zero, since clients of DISPLAY=:1 connect to X1,
// never to X01.
std::optional<int> displayNumber(const std::string& name) {
  if (name.size() < 2 || name.size() > 5 || name[0] != 'X') return std::nullopt;
  if (name.size() > 2 && name[1] == '0') return std::nullopt;
  if (!base::isDigits(std::string_view(name).substr(1))) return std::nullopt;
  return std::stoi(name.substr(1));
}

// Unit::problem for a display socket nobody can be reached on, or "".
std::string unreachable(const base::Status& probe, const std::string& path) {
  if (probe) return "";
  if (probe.error().code == ECONNREFUSED) {
    return path + " refuses connections: no X server listens on it";
  }
  // Not a socket any more, or our own trouble (EMFILE): said as it is.
  return probe.error().message;
}

}  // namespace

X11Displays::X11Displays(core::HostFs host, std::optional<int> display, std::string xauthority)
    : Resource(std::move(host)), display_(display), xauthority_(std::move(xauthority)) {}

std::string X11Displays::xauthorityProblem() const {
  if (xauthority_.empty()) return "";
  auto auth = host_.typeOf(xauthority_);
  if (!auth) return "--xauthority: " + auth.error().message;
  if (auth.value() == core::FileType::kRegular) return "";
  return "--xauthority " + xauthority_ + " is " + std::string(core::describe(auth.value())) +
         ", not a regular file";
}

core::Scan X11Displays::scan() {
  auto log = base::logger("x11");
  core::Scan scan;
  std::string authProblem = xauthorityProblem();

  std::vector<std::pair<int, std::string>> displays;
  auto listed = host_.entries(kSocketDir);
  std::vector<std::string> names = listed ? std::move(listed).value() : std::vector<std::string>{};
  for (const auto& name : names) {
    auto number = displayNumber(name);
    if (!number || (display_ && *number != *display_)) continue;
    displays.emplace_back(*number, name);
  }
  std::sort(displays.begin(), displays.end());

  auto now = std::chrono::steady_clock::now();
  std::map<std::string, std::chrono::steady_clock::time_point> stillRefusing;
  for (const auto& [number, name] : displays) {
    std::string path = std::string(kSocketDir) + "/" + name;
    core::FileType type = host_.lstat(path);
    if (type != core::FileType::kSocket) {
      log->debug("ignoring {}: {}, not a socket", path, core::describe(type));
      continue;
    }
    core::Unit unit{.id = name};
    unit.grant.mounts.push_back({kSocketDir, kSocketDir, /*readOnly=*/true});
    unit.grant.envs.emplace_back("DISPLAY", ":" + std::to_string(number));
    if (!xauthority_.empty()) {
      unit.grant.mounts.push_back({xauthority_, xauthority_, /*readOnly=*/true});
      unit.grant.envs.emplace_back("XAUTHORITY", xauthority_);
    }
    unit.heldSocket = path;
    if (auto probe = host_.probeSocket(path); !probe) {
      unit.problem = unreachable(probe, path);
      auto seen = refusing_.find(name);
      auto since = seen == refusing_.end() ? now : seen->second;
      stillRefusing[name] = since;
      if (now - since < kStartupGrace) {
        scan.recheck = true;
        log->debug("{} refuses connections; rechecking in case its X server is still starting",
                   path);
      }
    } else if (!authProblem.empty()) {
      unit.problem = authProblem;
    }
    scan.units.push_back(std::move(unit));
  }
  refusing_ = std::move(stillRefusing);
  if (display_) {
    std::vector<std::string> found;
    if (!scan.units.empty()) found.push_back(scan.units.front().id);
    selectors_.report("--display " + std::to_string(*display_), found);
  }
  if (!listed) {
    scan.missing = listed.error().message;  // not the same as finding no socket
  } else if (scan.units.empty()) {
    scan.missing = display_ ? std::string(kSocketDir) + "/X" + std::to_string(*display_) +
                                  " is not an X server socket (--display " +
                                  std::to_string(*display_) + ")"
                            : std::string("no X server socket in ") + kSocketDir;
  }
  return scan;
}

std::string X11Displays::recheck(const core::Unit& unit) const {
  std::string path = std::string(kSocketDir) + "/" + unit.id;
  std::string problem = unreachable(host_.probeSocket(path), path);
  return problem.empty() ? xauthorityProblem() : problem;
}

core::Grant X11Displays::compose(const std::vector<const core::Unit*>& units) const {
  core::Grant grant = Resource::compose(units);
  grant.envs = units.front()->grant.envs;
  return grant;
}

const core::ResourceSpec kSpec{
    .name = "x11",
    .options = {{"display", "", "hand out this display number instead of the lowest usable",
                 base::Scope::kOwnSection, base::integerIn(0, 9999)},
                {"xauthority", "", "host path of an Xauthority file to mount and set",
                 base::Scope::kOwnSection, base::absolutePath()}},
    .create = [](const base::Settings& settings,
                 const core::HostFs& host) -> std::unique_ptr<core::Resource> {
      std::optional<int> display;
      if (settings.has("display")) display = static_cast<int>(settings.integer("display"));
      return std::make_unique<X11Displays>(host, display, settings.text("xauthority"));
    }};

}  // namespace mvf::x11
