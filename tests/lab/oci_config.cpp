#include "tests/lab/oci_config.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

namespace mvf::testing {
namespace {

using Json = nlohmann::ordered_json;

// The type letter, major and minor of the node at `path`, as a runtime reads them when the
// spec leaves them out (CDI's fillMissingInfo; a kubelet DeviceSpec never has them).
Json nodeNumbers(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return {{"type", S_ISBLK(st.st_mode) ? "b" : "c"},
          {"major", ::major(st.st_rdev)},
          {"minor", ::minor(st.st_rdev)}};
}

// One spec file's edits, merged into `grant`; `paths` and `destinations` are those given.
void merge(const nlohmann::json& edits, const std::string& where, ContainerGrant* grant,
           std::set<std::string>* paths, std::set<std::string>* destinations, std::string* error) {
  if (!edits.is_object()) return;
  if (edits.contains("hooks") && !edits["hooks"].empty()) {
    *error = where + ": has hooks, which this test does not run";
    return;
  }
  for (const auto& env : edits.value("env", nlohmann::json::array())) {
    std::string text = env.get<std::string>();
    size_t eq = text.find('=');
    grant->env.emplace(text.substr(0, eq), eq == std::string::npos ? "" : text.substr(eq + 1));
  }
  for (const auto& node : edits.value("deviceNodes", nlohmann::json::array())) {
    std::string path = node.value("path", "");
    for (const char* field : {"uid", "gid", "fileMode"}) {
      if (!node.contains(field)) *error = where + ": node " + path + " has no " + field;
    }
    if (!error->empty() || !paths->insert(path).second) continue;
    grant->nodes.push_back({.path = path,
                            .hostPath = node.value("hostPath", path),
                            .access = node.value("permissions", "rwm"),
                            .uid = node.value("uid", 0u),
                            .gid = node.value("gid", 0u),
                            .fileMode = node.value("fileMode", 0u)});
  }
  for (const auto& mount : edits.value("mounts", nlohmann::json::array())) {
    std::string destination = mount.value("containerPath", "");
    if (!destinations->insert(destination).second) continue;
    grant->mounts.push_back({.hostPath = mount.value("hostPath", ""),
                             .containerPath = destination,
                             .type = mount.value("type", "bind"),
                             .options = mount.value("options", std::vector<std::string>{})});
  }
}

}  // namespace

void ContainerGrant::deny(const std::vector<std::string>& paths) {
  for (const auto& path : paths) nodes.push_back({.path = path, .hostPath = path, .access = ""});
}

ContainerGrant grantOf(const v1beta1::ContainerAllocateResponse& response) {
  ContainerGrant grant;
  for (const auto& spec : response.devices()) {
    grant.nodes.push_back({.path = spec.container_path(),
                           .hostPath = spec.host_path(),
                           .access = spec.permissions()});
  }
  for (const auto& mount : response.mounts()) {
    grant.mounts.push_back({.hostPath = mount.host_path(),
                            .containerPath = mount.container_path(),
                            .options = {"rbind", mount.read_only() ? "ro" : "rw"}});
  }
  grant.env.insert(response.envs().begin(), response.envs().end());
  return grant;
}

ContainerGrant grantOfCdi(const std::string& cdiDir, const std::vector<std::string>& names,
                          std::string* error) {
  namespace fs = std::filesystem;
  error->clear();
  // kind → (file, its spec), from every *.json of the dir.
  std::map<std::string, std::pair<std::string, nlohmann::json>> specs;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(cdiDir, ec)) {
    if (entry.path().extension() != ".json") continue;
    nlohmann::json spec = nlohmann::json::parse(std::ifstream(entry.path()), nullptr, false);
    if (spec.is_discarded() || !spec.is_object()) {
      *error = entry.path().string() + ": not a JSON object";
      return {};
    }
    std::string kind = spec.value("kind", "");
    if (specs.contains(kind)) {
      *error = kind + " is claimed by both " + specs[kind].first + " and " + entry.path().string();
      return {};
    }
    specs[kind] = {entry.path().string(), spec};
  }
  if (ec) *error = cdiDir + ": " + ec.message();

  ContainerGrant grant;
  std::set<std::string> paths, destinations;
  for (const auto& name : names) {
    if (!error->empty()) break;
    size_t eq = name.find('=');
    std::string kind = name.substr(0, eq);
    std::string device = eq == std::string::npos ? "" : name.substr(eq + 1);
    auto spec = specs.find(kind);
    if (spec == specs.end()) {
      *error = name + ": no spec in " + cdiDir + " has kind " + kind;
      break;
    }
    const auto& [file, json] = spec->second;
    nlohmann::json edits;
    bool found = false;
    for (const auto& candidate : json.value("devices", nlohmann::json::array())) {
      if (candidate.value("name", "") != device) continue;
      edits = candidate.value("containerEdits", nlohmann::json::object());
      found = true;
    }
    if (!found) {
      *error = name + ": " + file + " has no device " + device;
      break;
    }
    merge(json.value("containerEdits", nlohmann::json::object()), file, &grant, &paths,
          &destinations, error);
    merge(edits, file + ", device " + device, &grant, &paths, &destinations, error);
  }
  return grant;
}

std::string ociConfig(const ContainerGrant& grant, const std::string& rootfs,
                      const std::vector<std::string>& args) {
  Json env = Json::array({"PATH=/usr/local/bin:/usr/bin:/bin"});
  for (const auto& [key, value] : grant.env) env.push_back(key + "=" + value);

  Json process = {{"terminal", false}, {"user", {{"uid", grant.uid}, {"gid", grant.gid}}},
                  {"cwd", "/"},        {"args", args},
                  {"env", env},        {"noNewPrivileges", true}};
  if (grant.memlock) {
    process["rlimits"] = Json::array();
    process["rlimits"].push_back(
        {{"type", "RLIMIT_MEMLOCK"}, {"hard", *grant.memlock}, {"soft", *grant.memlock}});
  }

  Json mounts = Json::parse(R"([
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
     "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
     "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs",
     "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]},
    {"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]}
  ])");
  for (const auto& mount : grant.mounts) {
    mounts.push_back({{"destination", mount.containerPath},
                      {"type", mount.type},
                      {"source", mount.hostPath},
                      {"options", mount.options}});
  }

  Json devices = Json::array();
  Json rules = Json::array();
  rules.push_back({{"allow", false}, {"access", "rwm"}});
  for (const auto& node : grant.nodes) {
    Json numbers = nodeNumbers(node.hostPath);
    devices.push_back({{"path", node.path},
                       {"type", numbers["type"]},
                       {"major", numbers["major"]},
                       {"minor", numbers["minor"]},
                       {"fileMode", node.fileMode},
                       {"uid", node.uid},
                       {"gid", node.gid}});
    if (!node.access.empty()) {
      rules.push_back({{"allow", true},
                       {"type", numbers["type"]},
                       {"major", numbers["major"]},
                       {"minor", numbers["minor"]},
                       {"access", node.access}});
    }
  }

  Json config = {
      {"ociVersion", "1.0.2"},
      {"root", {{"path", rootfs}, {"readonly", true}}},
      {"process", process},
      {"hostname", "mvf-lab"},
      {"mounts", mounts},
      {"linux",
       {{"namespaces", Json::parse(R"([{"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                                       {"type": "uts"}, {"type": "mount"}])")},
        {"devices", devices},
        {"resources", {{"devices", rules}}}}}};
  return config.dump(2) + "\n";
}

}  // namespace mvf::testing
