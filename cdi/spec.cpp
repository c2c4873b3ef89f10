#include "cdi/spec.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

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

std::string kindOf(std::string_view text, bool yaml) {
  try {
    if (yaml) {
      YAML::Node spec = YAML::Load(std::string(text));
      return spec.IsMap() && spec["kind"] && spec["kind"].IsScalar()
                 ? spec["kind"].as<std::string>()
                 : "";
    }
    auto spec = nlohmann::json::parse(text);
    auto kind = spec.find("kind");
    return spec.is_object() && kind != spec.end() && kind->is_string() ? kind->get<std::string>()
                                                                       : "";
  } catch (const std::exception&) {
    return "";  // YAML::Exception, nlohmann::json::exception: not a spec we can read
  }
}

}  // namespace mvf::cdi
