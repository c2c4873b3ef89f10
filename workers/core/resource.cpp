#include "workers/core/resource.h"

#include <algorithm>
#include <map>

#include "base/format.h"

namespace mvf::core {

Grant Resource::compose(const std::vector<const Unit*>& units) const {
  Grant out;
  std::map<std::string, std::vector<std::string>> envValues;
  std::vector<std::string> envOrder;
  for (const Unit* unit : units) {
    for (const auto& node : unit->grant.nodes) {
      if (std::find(out.nodes.begin(), out.nodes.end(), node) == out.nodes.end()) {
        out.nodes.push_back(node);
      }
    }
    for (const auto& mount : unit->grant.mounts) {
      if (std::find(out.mounts.begin(), out.mounts.end(), mount) == out.mounts.end()) {
        out.mounts.push_back(mount);
      }
    }
    for (const auto& [key, value] : unit->grant.envs) {
      auto& values = envValues[key];
      if (values.empty()) envOrder.push_back(key);
      if (std::find(values.begin(), values.end(), value) == values.end()) values.push_back(value);
    }
  }
  for (const auto& key : envOrder) {
    out.envs.emplace_back(key, fmt::format("{}", fmt::join(envValues[key], ",")));
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
    FileType type = host_.lstat(node.path);
    if (type != FileType::kCharDevice) {
      return node.path + " is " + std::string(describe(type)) + ", not a character device";
    }
  }
  return "";
}

}  // namespace mvf::core
