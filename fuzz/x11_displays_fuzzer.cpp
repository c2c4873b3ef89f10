// The x11 worker's scan over /tmp/.X11-unix entries the input names, one per line (up to
// eight): "+" before a name makes it a listening socket, "-" a stale one (bound, closed),
// and no prefix a regular file. The last line is the --display value.
#include <cstdint>
#include <set>

#include "base/options.h"
#include "fuzz/fuzz_input.h"
#include "tests/support/fake_node.h"
#include "workers/x11/x11_displays.h"

namespace mvf::fuzz {
namespace {

void scanDisplays(const std::vector<std::string>& in) {
  testing::FakeNode node;
  (void)node.mkdirs(x11::X11Displays::kSocketDir);
  std::vector<base::UniqueFd> listening;
  std::set<std::string> made;  // a name given twice is made once (bind refuses a second)
  for (size_t i = 0; i + 1 < in.size(); ++i) {
    if (in[i].empty()) continue;
    char kind = in[i][0];
    std::string name = (kind == '+' || kind == '-') ? in[i].substr(1) : in[i];
    std::string path = std::string(x11::X11Displays::kSocketDir) + "/" + entryName(name, "X0");
    if (!made.insert(path).second) continue;
    // A socket path must fit sun_path (108 bytes): longer names are files.
    if ((kind == '+' || kind == '-') && node.host(path).size() < 100) {
      listening.push_back(node.unixSocket(path, kind == '+'));
    } else {
      (void)node.file(path);
    }
  }
  std::optional<int> display;
  if (base::integerIn(0, 9999)(in.back()).empty()) display = std::stoi(in.back());
  x11::X11Displays displays(testing::hostFsOf(node), display, "");
  core::Scan scan = displays.scan();
  for (const auto& unit : scan.units) {
    check(unit.id.size() >= 2 && unit.id[0] == 'X', "a display is named X<N>");
    // Clients of DISPLAY=:N connect to X<N>: the socket the scan judged must be that one.
    check(unit.grant.envs.size() == 1 && unit.grant.envs[0].second == ":" + unit.id.substr(1),
          "DISPLAY names the socket the unit is (" + unit.id + ", " +
              (unit.grant.envs.empty() ? "none" : unit.grant.envs[0].second) + ")");
    check(!display || unit.id == "X" + std::to_string(*display), "--display pins one display");
  }
  std::vector<const core::Unit*> usable;
  for (const auto& unit : scan.units) {
    if (unit.usable()) usable.push_back(&unit);
  }
  if (!usable.empty()) {
    core::Grant grant = displays.compose(usable);
    check(grant.envs.size() == 1 && grant.envs[0].first == "DISPLAY", "one DISPLAY");
  }
}

}  // namespace

void fuzzOne(const uint8_t* data, size_t size) { scanDisplays(lines(data, size, 9)); }

}  // namespace mvf::fuzz
