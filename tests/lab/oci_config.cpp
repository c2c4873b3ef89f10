#include "tests/lab/oci_config.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>
#include <sstream>

namespace mvf::testing {
namespace {

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

std::string list(const std::vector<std::string>& items) {
  std::string out = "[";
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
  return out + "]";
}

struct Node {
  std::string path;
  unsigned major = 0, minor = 0;
  std::string access;  // "" = no allow rule
};

Node node(const std::string& path, const std::string& access) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return {path, ::major(st.st_rdev), ::minor(st.st_rdev), access};
}

}  // namespace

std::string ociConfig(const v1beta1::ContainerAllocateResponse& response, const std::string& rootfs,
                      const std::vector<std::string>& args,
                      const std::vector<std::string>& denied) {
  std::vector<Node> nodes;
  for (const auto& spec : response.devices())
    nodes.push_back(node(spec.host_path(), spec.permissions()));
  for (const auto& path : denied) nodes.push_back(node(path, ""));

  std::vector<std::string> env = {quote("PATH=/usr/local/bin:/usr/bin:/bin")};
  std::map<std::string, std::string> sorted(response.envs().begin(), response.envs().end());
  for (const auto& [key, value] : sorted) env.push_back(quote(key + "=" + value));

  std::vector<std::string> quotedArgs;
  for (const auto& arg : args) quotedArgs.push_back(quote(arg));

  std::vector<std::string> mounts = {
      R"({"destination": "/proc", "type": "proc", "source": "proc"})",
      R"({"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]})",
      R"({"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]})",
      R"({"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]})",
      R"({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]})",
      R"({"destination": "/run", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev"]})"};
  for (const auto& mount : response.mounts()) {
    mounts.push_back("{\"destination\": " + quote(mount.container_path()) +
                     ", \"type\": \"bind\", \"source\": " + quote(mount.host_path()) +
                     ", \"options\": [\"rbind\", \"" + (mount.read_only() ? "ro" : "rw") + "\"]}");
  }

  std::vector<std::string> devices;
  std::vector<std::string> rules = {R"({"allow": false, "access": "rwm"})"};
  for (const auto& n : nodes) {
    devices.push_back(
        "{\"path\": " + quote(n.path) + ", \"type\": \"c\", \"major\": " + std::to_string(n.major) +
        ", \"minor\": " + std::to_string(n.minor) + ", \"fileMode\": 438, \"uid\": 0, \"gid\": 0}");
    if (!n.access.empty()) {
      rules.push_back("{\"allow\": true, \"type\": \"c\", \"major\": " + std::to_string(n.major) +
                      ", \"minor\": " + std::to_string(n.minor) +
                      ", \"access\": " + quote(n.access) + "}");
    }
  }

  std::ostringstream out;
  out << R"({
  "ociVersion": "1.0.2",
  "root": {"path": )"
      << quote(rootfs) << R"(, "readonly": true},
  "process": {
    "terminal": false,
    "user": {"uid": 0, "gid": 0},
    "cwd": "/",
    "args": )"
      << list(quotedArgs) << R"(,
    "env": )"
      << list(env) << R"(,
    "noNewPrivileges": true
  },
  "hostname": "mvf-lab",
  "mounts": )"
      << list(mounts) << R"(,
  "linux": {
    "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"},
                   {"type": "mount"}],
    "devices": )"
      << list(devices) << R"(,
    "resources": {"devices": )"
      << list(rules) << R"(}
  }
}
)";
  return out.str();
}

}  // namespace mvf::testing
