#include "workers/core/resource.h"

#include <map>
#include <set>
#include <string_view>
#include <tuple>

#include "base/format.h"

namespace mvf::core {

Grant Resource::compose(const std::vector<const Unit*>& units) const {
  // Each part is kept once, in the order first seen; the sets make that n log n, since a
  // shared-mode grant holds every usable unit of the node.
  Grant out;
  std::set<std::pair<std::string_view, std::string_view>> nodes;  // path, permissions
  std::set<std::tuple<std::string_view, std::string_view, bool>> mounts;
  std::map<std::string_view, std::vector<std::string_view>> envValues;
  std::set<std::pair<std::string_view, std::string_view>> envSeen;  // key, value
  std::vector<std::string_view> envOrder;
  for (const Unit* unit : units) {
    for (const auto& node : unit->grant.nodes) {
      if (nodes.emplace(node.path, node.permissions).second) out.nodes.push_back(node);
    }
    for (const auto& mount : unit->grant.mounts) {
      if (mounts.emplace(mount.hostPath, mount.containerPath, mount.readOnly).second) {
        out.mounts.push_back(mount);
      }
    }
    for (const auto& [key, value] : unit->grant.envs) {
      if (!envSeen.emplace(key, value).second) continue;
      auto& values = envValues[key];
      if (values.empty()) envOrder.push_back(key);
      values.push_back(value);
    }
  }
  for (auto key : envOrder) {
    out.envs.emplace_back(std::string(key), fmt::format("{}", fmt::join(envValues[key], ",")));
  }
  return out;
}

Problems problemsOf(const Scan& scan) {
  Problems problems;
  for (const auto& unit : scan.units) problems.emplace(unit.id, unit.problem);
  return problems;
}

std::vector<std::string> usabilityChanges(const Problems& before, const Problems& after,
                                          size_t limit) {
  std::vector<std::string> lines;
  size_t more = 0;
  auto add = [&](std::string line) {
    if (lines.size() < limit) {
      lines.push_back(std::move(line));
    } else {
      ++more;
    }
  };
  for (const auto& [id, problem] : after) {
    auto was = before.find(id);
    if (!problem.empty() && (was == before.end() || was->second != problem)) {
      add("device " + id + " is not usable: " + problem);
    } else if (problem.empty() && was != before.end() && !was->second.empty()) {
      add("device " + id + " is usable again");
    }
  }
  for (const auto& [id, problem] : before) {
    if (!after.contains(id)) add("device " + id + " is gone");
  }
  if (more > 0) lines.back() += " (and " + std::to_string(more) + " more changes)";
  return lines;
}

std::string Resource::recheck(const Unit& unit) const {
  for (const auto& node : unit.grant.nodes) {
    auto type = host_.typeOf(node.path);
    if (!type) return type.error().message;
    if (type.value() != FileType::kCharDevice) {
      return node.path + " is " + std::string(describe(type.value())) + ", not a character device";
    }
  }
  return "";
}

}  // namespace mvf::core
