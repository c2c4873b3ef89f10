#include "workers/core/resource.h"

#include <algorithm>
#include <map>

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
    std::string joined;
    for (const auto& value : envValues[key]) joined += (joined.empty() ? "" : ",") + value;
    out.envs.emplace_back(key, joined);
  }
  return out;
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
