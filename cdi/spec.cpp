#include "cdi/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

namespace mvf::cdi {
namespace {

bool isAlnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

// First and last a letter or digit, the rest a letter, a digit or one of `also`.
bool isName(std::string_view name, std::string_view also) {
  if (name.empty() || !isAlnum(name.front()) || !isAlnum(name.back())) return false;
  return std::all_of(name.begin(), name.end(),
                     [&](char c) { return isAlnum(c) || also.find(c) != std::string_view::npos; });
}

}  // namespace

bool isDeviceName(std::string_view name) { return isName(name, "_-.:"); }

std::string qualifiedName(std::string_view kind, std::string_view name) {
  return std::string(kind) + "=" + std::string(name);
}

bool isAnnotationKey(std::string_view key) {
  constexpr std::string_view kPrefix = "cdi.k8s.io/";
  if (!key.starts_with(kPrefix)) return false;
  key.remove_prefix(kPrefix.size());
  return key.size() <= 63 && isName(key, "_-.");
}

std::string specJson(std::string_view kind, const std::vector<Device>& devices) {
  // ordered_json: the fields in the order the CDI spec lists them, for a reader.
  using Json = nlohmann::ordered_json;
  Json list = Json::array();
  for (const auto& device : devices) {
    Json edits = Json::object();
    if (!device.nodes.empty()) {
      Json& nodes = edits["deviceNodes"] = Json::array();
      for (const auto& node : device.nodes) {
        nodes.push_back({{"path", node.path},
                         {"hostPath", node.hostPath},
                         {"permissions", node.permissions},
                         {"uid", node.uid},
                         {"gid", node.gid},
                         {"fileMode", node.fileMode}});
      }
    }
    if (!device.mounts.empty()) {
      Json& mounts = edits["mounts"] = Json::array();
      for (const auto& mount : device.mounts) {
        mounts.push_back({{"hostPath", mount.hostPath},
                          {"containerPath", mount.containerPath},
                          {"type", "bind"},
                          {"options", {"rbind", mount.readOnly ? "ro" : "rw"}}});
      }
    }
    list.push_back({{"name", device.name}, {"containerEdits", std::move(edits)}});
  }
  Json spec = {{"cdiVersion", kVersion}, {"kind", kind}, {"devices", std::move(list)}};
  return spec.dump(2) + "\n";
}

std::string kindOf(std::string_view text) {
  // Of the keys of a map, the value of "kind" or else of one spelled so in another case.
  auto pick = [](const auto& keysAndValues) {
    std::string exact, other;
    for (const auto& [key, value] : keysAndValues) {
      if (!value) continue;
      if (key == "kind") exact = *value;
      if (other.empty() && std::equal(key.begin(), key.end(), std::string_view("kind").begin(),
                                      std::string_view("kind").end(), [](char a, char b) {
                                        return std::tolower(static_cast<unsigned char>(a)) == b;
                                      })) {
        other = *value;
      }
    }
    return exact.empty() ? other : exact;
  };
  using Entries = std::vector<std::pair<std::string, std::optional<std::string>>>;
  try {
    auto spec = nlohmann::json::parse(text);
    if (!spec.is_object()) return "";
    Entries entries;
    for (const auto& [key, value] : spec.items()) {
      entries.emplace_back(
          key, value.is_string() ? std::optional(value.get<std::string>()) : std::nullopt);
    }
    return pick(entries);
  } catch (const nlohmann::json::exception&) {
    // Not JSON: YAML, as a runtime would read it whatever the file's extension.
  }
  try {
    YAML::Node spec = YAML::Load(std::string(text));
    if (!spec.IsMap()) return "";
    Entries entries;
    for (const auto& entry : spec) {
      if (!entry.first.IsScalar()) continue;
      entries.emplace_back(
          entry.first.as<std::string>(),
          entry.second.IsScalar() ? std::optional(entry.second.as<std::string>()) : std::nullopt);
    }
    return pick(entries);
  } catch (const YAML::Exception&) {
    return "";  // neither: no spec a runtime could read
  }
}

}  // namespace mvf::cdi
