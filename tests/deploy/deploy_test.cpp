// The Helm chart against itself and against the plain manifest, without helm (not in
// Debian 12): every .Values path a template uses exists in values.yaml; the chart's
// ConfigMap renders, with the default values, the manifest's config, and the binaries
// accept it; the DaemonSet template's fixed lines and its defaults are the manifest's;
// the host paths are the ones the workers read; the resource names are the plugin's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "tests/support/worker_process.h"

namespace mvf::testing {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

const fs::path kSource = MVF_SOURCE_DIR;
const fs::path kChart = kSource / "deploy/helm/maverikflats-device-plugin";
const fs::path kManifest = kSource / "deploy/manifests/maverikflats-device-plugin.yaml";

std::string read(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

std::string trim(const std::string& text) {
  size_t start = text.find_first_not_of(' ');
  size_t end = text.find_last_not_of(' ');
  return start == std::string::npos ? "" : text.substr(start, end - start + 1);
}

// values.yaml as dotted key paths to their scalar text, or "<block>" for a key whose map
// or list follows on the next lines; from indentation alone, which is enough YAML for
// what a values file holds.
std::map<std::string, std::string> valuePaths() {
  std::map<std::string, std::string> paths;
  std::vector<std::pair<size_t, std::string>> stack;  // indent, key
  std::regex key(R"(^( *)([A-Za-z0-9_]+):(.*)$)");
  for (const auto& line : lines(read(kChart / "values.yaml"))) {
    std::smatch match;
    if (!std::regex_match(line, match, key)) continue;
    auto indent = static_cast<size_t>(match[1].length());
    while (!stack.empty() && stack.back().first >= indent) stack.pop_back();
    std::string path;
    for (const auto& [depth, name] : stack) path += name + ".";
    path += match[2].str();
    std::string value = match[3].str();
    value = trim(value.substr(0, value.find(" #")));
    if (value.empty()) value = "<block>";
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    }
    paths[path] = value;
    stack.emplace_back(indent, match[2].str());
  }
  return paths;
}

// The lines of the manifest document of this kind.
std::vector<std::string> manifestDocument(const std::string& kind) {
  std::vector<std::string> document;
  bool in = false;
  for (const auto& line : lines(read(kManifest))) {
    if (line == "---") {
      if (in) break;
      document.clear();
      continue;
    }
    document.push_back(line);
    if (line == "kind: " + kind) in = true;
  }
  return in ? document : std::vector<std::string>{};
}

// The config.ini block of a ConfigMap document, unindented.
std::string configBlock(const std::vector<std::string>& document) {
  std::string out;
  bool in = false;
  for (const auto& line : document) {
    if (trim(line) == "config.ini: |") {
      in = true;
      continue;
    }
    if (in) out += (line.size() >= 4 ? line.substr(4) : trim(line)) + "\n";
  }
  return out;
}

// The chart's configmap.yaml with the default values: its directives are the few that
// template uses ({{ .Values.x }}, the worker list, and {{- with }} blocks of optional
// settings), so they are rendered here directly.
std::string renderDefaultConfig() {
  auto values = valuePaths();
  std::string text = read(kChart / "templates/configmap.yaml");
  // {{- with .Values.path [| toString] }} ... {{- end }}: dropped when the value is empty.
  std::regex with(
      R"(\n *\{\{- with \.Values\.([A-Za-z0-9_.]+)(?: \| toString)? \}\}([\s\S]*?)\n *\{\{- end \}\})");
  // Template comments render as nothing.
  text = std::regex_replace(text, std::regex(R"(\n *\{\{- /\*[^*]*\*/\}\})"), "");
  std::smatch match;
  while (std::regex_search(text, match, with)) {
    EXPECT_TRUE(values[match[1].str()].empty() || values[match[1].str()] == "[]")
        << match[1] << " has a default; render it as well";
    text = match.prefix().str() + match.suffix().str();
  }
  std::string workers;
  for (const char* name : {"x11", "udma", "vfio", "igpu", "usb"}) {
    if (values[std::string("workers.") + name + ".enabled"] == "true") {
      workers += (workers.empty() ? "" : ",") + std::string(name);
    }
  }
  text = std::regex_replace(text, std::regex(R"(\{\{ include "mvf.workers" \. \}\})"), workers);
  std::regex value(R"(\{\{ \.Values\.([A-Za-z0-9_.]+) \}\})");
  while (std::regex_search(text, match, value)) {
    text = match.prefix().str() + values[match[1].str()] + match.suffix().str();
  }
  std::vector<std::string> document = lines(text);
  return configBlock(document);
}

TEST(HelmChart, EveryValuesPathInTheTemplatesExistsInValuesYaml) {
  auto values = valuePaths();
  std::regex use(R"(\.Values\.([A-Za-z0-9_.]+))");
  int uses = 0;
  for (const auto& entry : fs::directory_iterator(kChart / "templates")) {
    std::string text = read(entry.path());
    for (std::sregex_iterator it(text.begin(), text.end(), use), end; it != end; ++it) {
      ++uses;
      std::string path = (*it)[1].str();
      while (!path.empty() && path.back() == '.') path.pop_back();
      EXPECT_TRUE(values.contains(path))
          << entry.path().filename() << " uses .Values." << path << ", not in values.yaml";
    }
  }
  // index $.Values.workers $name in the helpers: every worker must have `enabled`.
  for (const char* name : {"x11", "udma", "vfio", "igpu", "usb"}) {
    EXPECT_EQ(values[std::string("workers.") + name + ".enabled"], "true") << name;
  }
  EXPECT_GT(uses, 20);
}

TEST(HelmChart, TheDefaultConfigIsTheManifestsConfig) {
  std::string manifest = configBlock(manifestDocument("ConfigMap"));
  ASSERT_FALSE(manifest.empty());
  EXPECT_EQ(renderDefaultConfig(), manifest);
}

TEST(HelmChart, TheBinariesAcceptTheConfig) {
  FakeNode node;
  std::string config = node.dir() + "/config.ini";
  std::ofstream(config) << configBlock(manifestDocument("ConfigMap"));
  // The supervisor checks its own settings, then each enabled worker's.
  auto result =
      runCommand({MVF_SUPERVISOR, "--check-config", "--config", config, "--host-root=/host"});
  EXPECT_EQ(result.exitCode, 0) << result.output;
  for (const char* worker : {"x11", "udma", "vfio", "igpu", "usb"}) {
    EXPECT_THAT(result.output, HasSubstr(std::string("# mvf-worker-") + worker + "\n"));
  }
  EXPECT_THAT(result.output, HasSubstr("host-root = /host  # --host-root"));
}

// Strips what may differ between the two: comments, blank lines, names, labels and
// annotations (the chart's config checksum).
std::vector<std::string> comparable(const std::vector<std::string>& document) {
  std::vector<std::string> out;
  for (const auto& line : document) {
    std::string t = trim(line);
    if (t.empty() || t.front() == '#' || t.find("app.kubernetes.io/") != std::string::npos ||
        t == "annotations:") {
      continue;
    }
    out.push_back(line);
  }
  return out;
}

TEST(HelmChart, TheDaemonSetsFixedLinesAreTheManifestsInOrder) {
  auto manifest = comparable(manifestDocument("DaemonSet"));
  ASSERT_FALSE(manifest.empty());
  // Every line of the template without a directive stands in the manifest, in the same
  // order; lines in {{- if }} / {{- with }} blocks count only when the default value
  // turns the block on (the opt-in init container does not; the tolerations do).
  auto values = valuePaths();
  auto on = [&](const std::string& path) {
    const std::string& value = values[path];
    return !(value.empty() || value == "false" || value == "{}" || value == "[]");
  };
  std::regex open(R"(\{\{- (if|with) \.Values\.([A-Za-z0-9_.]+) \}\})");
  std::vector<bool> conditions;
  std::vector<std::string> fixed;
  for (const auto& line : comparable(lines(read(kChart / "templates/daemonset.yaml")))) {
    std::smatch match;
    if (std::regex_search(line, match, open)) {
      conditions.push_back(on(match[2].str()));
      continue;
    }
    if (line.find("{{- end }}") != std::string::npos) {
      conditions.pop_back();
      continue;
    }
    bool included = std::all_of(conditions.begin(), conditions.end(), [](bool c) { return c; });
    if (included && line.find("{{") == std::string::npos) fixed.push_back(line);
  }
  size_t at = 0;
  for (const auto& line : fixed) {
    auto found = std::find(manifest.begin() + static_cast<long>(at), manifest.end(), line);
    ASSERT_NE(found, manifest.end()) << "template line not in the manifest (in order): " << line;
    at = static_cast<size_t>(found - manifest.begin()) + 1;
  }
  EXPECT_GT(fixed.size(), 60u);
}

TEST(HelmChart, TheDaemonSetsDefaultsAreTheManifests) {
  auto values = valuePaths();
  std::string manifest = read(kManifest);
  EXPECT_THAT(manifest,
              HasSubstr("image: " + values["image.repository"] + ":" + values["image.tag"]));
  EXPECT_THAT(manifest, HasSubstr("imagePullPolicy: " + values["image.pullPolicy"]));
  EXPECT_THAT(manifest, HasSubstr("namespace: " + values["namespace"]));
  EXPECT_THAT(manifest, HasSubstr("priorityClassName: " + values["priorityClassName"]));
  EXPECT_THAT(manifest, HasSubstr("cpu: " + values["resources.requests.cpu"]));
  EXPECT_THAT(manifest, HasSubstr("memory: " + values["resources.requests.memory"]));
  EXPECT_THAT(manifest, HasSubstr("memory: " + values["resources.limits.memory"]));
  EXPECT_THAT(manifest, HasSubstr("- operator: Exists"));
  EXPECT_THAT(read(kChart / "values.yaml"), HasSubstr("  - operator: Exists"));
  EXPECT_EQ(values["deviceGroup.enabled"], "false") << "the device group step is opt-in";
  EXPECT_EQ(values["nodeSelector"], "{}");
}

TEST(Deploy, HostPathsAreTheOnesTheWorkersReadUnderHostRoot) {
  for (const auto& text : {read(kManifest), read(kChart / "templates/daemonset.yaml")}) {
    EXPECT_THAT(text, HasSubstr("--host-root=/host"));
    // host path -> where it appears under the host root.
    for (const auto& [host, inside] : std::vector<std::pair<std::string, std::string>>{
             {"/dev", "/host/dev"},
             {"/sys", "/host/sys"},
             {"/tmp/.X11-unix", "/host/tmp/.X11-unix"}}) {
      EXPECT_THAT(text, HasSubstr("path: " + host + "\n"));
      EXPECT_THAT(text, HasSubstr("mountPath: " + inside + "\n              readOnly: true"));
    }
    EXPECT_THAT(text, HasSubstr("path: /var/lib/kubelet/device-plugins\n"));
    EXPECT_THAT(text, HasSubstr("mountPath: /var/lib/kubelet/device-plugins\n"));
    EXPECT_THAT(text, HasSubstr("mountPath: /run/mvf\n"));
    EXPECT_THAT(text, HasSubstr("[\"/usr/local/bin/mvfctl\", \"health\"]"));
    EXPECT_THAT(text, HasSubstr("[\"/usr/local/bin/mvfctl\", \"health\", \"--ready\"]"));
  }
  // The paths the binaries default to are the ones mounted.
  auto check = runCommand({MVF_SUPERVISOR, "--check-config"});
  EXPECT_THAT(check.output, HasSubstr("kubelet-dir = /var/lib/kubelet/device-plugins  # default"));
  EXPECT_THAT(check.output, HasSubstr("status-socket = /run/mvf/status.sock  # default"));
  EXPECT_THAT(check.output, HasSubstr("run-dir = /run/mvf  # default"));
}

TEST(Deploy, ResourceNamesAreThePlugins) {
  std::string notes = read(kChart / "templates/NOTES.txt");
  std::string readme = read(kSource / "README.md");
  for (const char* name : {"x11", "udma", "vfio", "igpu", "usb"}) {
    std::string resource = std::string("intel.com/") + name;
    EXPECT_THAT(notes, HasSubstr(resource + ": 1"));
    EXPECT_THAT(readme, HasSubstr(resource + ": 1"));
  }
}

}  // namespace
}  // namespace mvf::testing
