// The Helm chart against itself and against the plain manifest, without helm (not in
// Debian 12): every .Values path a template uses exists in values.yaml; the chart's
// ConfigMap renders, with the default values, the manifest's config, and the binaries
// accept it; the DaemonSet template, rendered here for a few sets of values, is the
// manifest with the default ones, never has an init container, writes to no host path but
// the kubelet's plugin dir and the CDI dir, mounts the kubelet's pod-resources dir read-only
// only when asked, and refuses the removed deviceGroup.* values;
// the host paths are the ones the workers read; the resource names are the plugin's. The
// metrics flag, port and scrape annotations follow metrics.*, and the optional PodMonitor
// selects the DaemonSet's pods and port; the Grafana dashboard (deploy/grafana) reads only
// metrics the plugin exports, per node.
#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <prometheus/exposer.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "base/unique_fd.h"
#include "catalog/catalog.h"
#include "supervisor/metrics.h"
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

// --set-like values on top of values.yaml: dotted path → the value's text.
using Overrides = std::map<std::string, std::string>;

// Go templates' truth, for a value's text: false, 0, empty and null are false.
bool truthy(const std::string& value) {
  return !(value.empty() || value == "false" || value == "0" || value == "null" || value == "{}" ||
           value == "[]");
}

// What the chart's text helpers make of a value's text (_helpers.tpl); nullopt for another.
std::optional<std::string> helper(const std::string& name, const std::string& value) {
  if (name == "mvf.id") return value == "null" ? "" : value;
  if (name == "mvf.onOff") return value == "true" ? "on" : value == "false" ? "off" : value;
  return std::nullopt;
}

struct Rendering {
  std::vector<std::string> lines;  // the template's document
  std::string error;               // a {{ fail }}'s message: then Helm renders nothing
};

// The release name the renderings below are for (`helm install device-plugin .`).
const std::string kRelease = "device-plugin";

// A chart template (daemonset.yaml, podmonitor.yaml) with values.yaml and `overrides`,
// rendered line by line. Its directives are few, so they are rendered here: {{- if }} /
// {{- else }} / {{- with }} / {{- end }} lines on a .Values path, on hasKey .Values "key",
// or on a text helper's result; {{- fail "…" }}; {{ .Values.path }}, {{ . }} and
// {{ include "<text helper>" .Values.path }} in a line; {{- include "mvf.labels" . |
// nindent N }} (for the release kRelease), and {{- toYaml . | nindent N }} in a {{- with }}
// of a map of scalars. Lines with other directives (names, toYaml of a list or of nested
// maps) stay as written. The value checks of mvf.checkCdi run under Helm only. A control
// directive not known here fails the test: extend this, then use it.
Rendering renderTemplate(const std::string& file, const Overrides& overrides = {}) {
  auto values = valuePaths();
  for (const auto& [path, value] : overrides) {
    values[path] = value;
    // Its parents are maps now, as with --set.
    for (size_t dot = path.find('.'); dot != std::string::npos; dot = path.find('.', dot + 1)) {
      values[path.substr(0, dot)] = "<block>";
    }
  }
  auto value = [&](const std::string& path) {
    auto it = values.find(path);
    return it == values.end() ? std::string() : it->second;
  };
  auto hasKey = [&](const std::string& key) {
    return std::any_of(values.begin(), values.end(), [&](const auto& entry) {
      return entry.first == key || entry.first.starts_with(key + ".");
    });
  };
  struct Block {
    bool on;
    std::string dot;   // {{ . }} inside a with
    std::string path;  // the .Values path of that, if it is one
  };
  std::vector<Block> blocks;
  auto on = [&] {
    return std::all_of(blocks.begin(), blocks.end(), [](const Block& b) { return b.on; });
  };
  // A condition's truth and what {{ . }} is inside it.
  auto condition = [&](const std::string& text, const std::string& line) -> Block {
    std::smatch match;
    if (std::regex_match(text, match, std::regex(R"(\.Values\.([A-Za-z0-9_.]+))"))) {
      return {truthy(value(match[1])), value(match[1]), match[1]};
    }
    if (std::regex_match(text, match, std::regex(R"~(hasKey \.Values "([A-Za-z0-9_]+)")~"))) {
      return {hasKey(match[1]), "", ""};
    }
    if (std::regex_match(text, match,
                         std::regex(R"~(include "([a-zA-Z.]+)" \.Values\.([A-Za-z0-9_.]+))~"))) {
      if (auto result = helper(match[1], value(match[2]))) return {!result->empty(), *result, ""};
    }
    ADD_FAILURE() << "a condition this test does not render: " << line;
    return {false, "", ""};
  };
  std::regex control(
      R"~(^ *\{\{- (if|with|else|end|fail|include "mvf\.check[A-Za-z]+")(.*?) \}\}$)~");
  std::regex unknownControl(R"(\{\{-? *(if|with|range|else|end|define|template|block)\b)");
  std::regex nindent(
      R"~(^ *\{\{- (include "mvf\.labels" \.|toYaml \.) \| nindent ([0-9]+) \}\}$)~");
  // The scalars of the map at a .Values path, as "key: value" lines; nullopt when it is not a
  // map of scalars only (a list, nested maps: those stay as written).
  auto scalarMap = [&](const std::string& path) -> std::optional<std::vector<std::string>> {
    std::vector<std::string> entries;
    for (const auto& [key, text] : values) {
      if (!key.starts_with(path + ".")) continue;
      std::string name = key.substr(path.size() + 1);
      if (name.find('.') != std::string::npos || text == "<block>") return std::nullopt;
      entries.push_back(name + ": " + text);
    }
    if (entries.empty()) return std::nullopt;
    return entries;
  };
  std::string chartName;
  for (const auto& line : lines(read(kChart / "Chart.yaml"))) {
    if (line.starts_with("name: ")) chartName = trim(line.substr(6));
  }
  std::regex inLine(
      R"~(\{\{ (\.Values\.([A-Za-z0-9_.]+)|\.|include "([a-zA-Z.]+)" \.Values\.([A-Za-z0-9_.]+)) \}\})~");
  Rendering out;
  for (const auto& line : lines(read(kChart / "templates" / file))) {
    std::smatch match;
    if (std::regex_match(line, match, nindent)) {
      if (!on()) continue;
      std::string indent(std::stoul(match[2]), ' ');
      std::optional<std::vector<std::string>> entries;
      if (match[1].str().starts_with("include")) {
        entries = {"app.kubernetes.io/name: " + chartName,
                   "app.kubernetes.io/instance: " + kRelease};
      } else if (!blocks.empty() && !blocks.back().path.empty()) {
        entries = scalarMap(blocks.back().path);
      }
      if (!entries) out.lines.push_back(line);
      for (const auto& entry : entries.value_or(std::vector<std::string>{})) {
        out.lines.push_back(indent + entry);
      }
      continue;
    }
    if (std::regex_match(line, match, control)) {
      std::string keyword = match[1];
      std::string rest = trim(match[2]);
      if (keyword == "if" || keyword == "with") {
        blocks.push_back(condition(rest, line));
      } else if (keyword == "else") {
        EXPECT_FALSE(blocks.empty()) << line;
        if (!blocks.empty()) blocks.back().on = !blocks.back().on;
      } else if (keyword == "end") {
        EXPECT_FALSE(blocks.empty()) << line;
        if (!blocks.empty()) blocks.pop_back();
      } else if (keyword == "fail") {
        std::smatch message;
        EXPECT_TRUE(std::regex_match(rest, message, std::regex(R"~("(.*)")~"))) << line;
        if (on()) return {{}, std::regex_replace(message[1].str(), std::regex(R"~(\\")~"), "\"")};
      }
      continue;  // include "mvf.check…": renders nothing
    }
    EXPECT_FALSE(std::regex_search(line, unknownControl))
        << "a directive this test does not render: " << line;
    if (!on()) continue;
    std::string text;
    std::string rest = line;
    while (std::regex_search(rest, match, inLine)) {
      std::string replacement = match[0];
      if (match[2].matched) {
        replacement = value(match[2]);
      } else if (match[3].matched) {
        replacement = helper(match[3], value(match[4])).value_or(replacement);
      } else if (!blocks.empty()) {
        replacement = blocks.back().dot;
      }
      text += match.prefix().str() + replacement;
      rest = match.suffix().str();
    }
    out.lines.push_back(text + rest);
  }
  EXPECT_TRUE(blocks.empty()) << "unclosed {{- if }} or {{- with }}";
  return out;
}

Rendering renderDaemonSet(const Overrides& overrides = {}) {
  return renderTemplate("daemonset.yaml", overrides);
}

// The items of the YAML list under the first `key:` line of `document`, each as its
// scalar leaves by dotted path ("name", "hostPath.path"); an item that is a scalar is
// {"": its text}. Lists inside an item are left out; comments are skipped.
std::vector<std::map<std::string, std::string>> listUnder(const std::vector<std::string>& document,
                                                          const std::string& key) {
  std::vector<std::map<std::string, std::string>> items;
  size_t i = 0;
  while (i < document.size() && trim(document[i]) != key + ":") ++i;
  if (i == document.size()) return items;
  const size_t keyIndent = document[i].find_first_not_of(' ');
  std::optional<size_t> itemIndent;                     // of the list's "- " lines
  std::optional<size_t> skipping;                       // in a list inside an item
  std::vector<std::pair<size_t, std::string>> parents;  // indent, key of the maps we are in
  std::regex entry(R"(^( *)(- )?([A-Za-z0-9_]+):(.*)$)");
  for (++i; i < document.size(); ++i) {
    std::string t = trim(document[i]);
    if (t.empty() || t.front() == '#') continue;
    size_t lineIndent = document[i].find_first_not_of(' ');
    if (lineIndent <= keyIndent) break;
    if (skipping && lineIndent > *skipping) continue;
    skipping.reset();
    bool dash = t.starts_with("- ");
    if (dash && !itemIndent) itemIndent = lineIndent;
    if (dash && lineIndent != *itemIndent) {
      skipping = lineIndent;
      continue;
    }
    std::smatch match;
    if (!std::regex_match(document[i], match, entry)) {
      if (dash) items.push_back({{"", trim(t.substr(2))}});
      continue;
    }
    size_t indent = static_cast<size_t>(match[1].length());
    if (dash) {
      items.emplace_back();
      parents.clear();
      indent += 2;
    }
    if (items.empty()) continue;
    while (!parents.empty() && parents.back().first >= indent) parents.pop_back();
    std::string path;
    for (const auto& [depth, name] : parents) path += name + ".";
    path += match[3].str();
    std::string scalar = trim(match[4].str());
    if (scalar.empty()) {
      parents.emplace_back(indent, match[3].str());
    } else {
      items.back()[path] = scalar;
    }
  }
  return items;
}

// The container's args.
std::vector<std::string> argsOf(const std::vector<std::string>& document) {
  std::vector<std::string> args;
  for (auto& item : listUnder(document, "args")) args.push_back(item[""]);
  return args;
}

// The host paths the container may write to: hostPath volumes mounted without readOnly.
std::set<std::string> writableHostPaths(const std::vector<std::string>& document) {
  std::map<std::string, std::string> hostPaths;  // volume name → host path
  for (auto& volume : listUnder(document, "volumes")) {
    if (volume.contains("hostPath.path")) hostPaths[volume["name"]] = volume["hostPath.path"];
  }
  std::set<std::string> writable;
  for (auto& mount : listUnder(document, "volumeMounts")) {
    if (mount["readOnly"] == "true") continue;
    if (auto it = hostPaths.find(mount["name"]); it != hostPaths.end()) writable.insert(it->second);
  }
  return writable;
}

// The renderings the tests below look at: the defaults and every CDI setting.
std::vector<std::pair<std::string, Overrides>> renderingsToCheck() {
  return {{"defaults", {}},
          {"cdi.enabled=false", {{"cdi.enabled", "false"}}},
          {"cdi.devices=annotations", {{"cdi.devices", "annotations"}}},
          {"cdi.deviceSpecs=off", {{"cdi.deviceSpecs", "off"}}},
          {"nodeOwnership",
           {{"cdi.nodeOwnership.uid", "107"},
            {"cdi.nodeOwnership.gid", "107"},
            {"cdi.nodeOwnership.fileMode", "0660"}}},
          {"podResources.enabled=true", {{"podResources.enabled", "true"}}},
          {"metrics.enabled=false", {{"metrics.enabled", "false"}}}};
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
  std::vector<std::string> argv{MVF_SUPERVISOR, "--check-config"};
  for (const auto& arg : argsOf(manifestDocument("DaemonSet"))) {
    argv.push_back(arg.starts_with("--config=") ? "--config=" + config : arg);
  }
  auto result = runCommand(argv);
  EXPECT_EQ(result.exitCode, 0) << result.output;
  for (const char* worker : {"x11", "udma", "vfio", "igpu", "usb"}) {
    EXPECT_THAT(result.output, HasSubstr(std::string("# mvf-worker-") + worker + "\n"));
  }
  EXPECT_THAT(result.output, HasSubstr("host-root = /host  # --host-root"));
  EXPECT_THAT(result.output, HasSubstr("cdi-devices = cri  # --cdi-devices"));
  EXPECT_THAT(result.output, HasSubstr("metrics-address = 0.0.0.0:9470  # --metrics-address"));
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

TEST(HelmChart, TheDefaultDaemonSetIsTheManifests) {
  auto manifest = comparable(manifestDocument("DaemonSet"));
  ASSERT_FALSE(manifest.empty());
  Rendering rendered = renderDaemonSet();
  ASSERT_EQ(rendered.error, "");
  // Every rendered line stands in the manifest, in the same order, but for lines still
  // holding a directive (names, labels, toYaml: the manifest spells those out). Quotes
  // aside: the chart quotes the image, the manifest need not.
  auto unquoted = [](std::string line) {
    std::erase(line, '"');
    return line;
  };
  std::vector<std::string> wanted;
  for (const auto& line : comparable(manifest)) wanted.push_back(unquoted(line));
  size_t at = 0;
  size_t compared = 0;
  for (const auto& line : comparable(rendered.lines)) {
    if (line.find("{{") != std::string::npos) continue;
    ++compared;
    auto found = std::find(wanted.begin() + static_cast<long>(at), wanted.end(), unquoted(line));
    ASSERT_NE(found, wanted.end()) << "rendered line not in the manifest (in order): " << line;
    at = static_cast<size_t>(found - wanted.begin()) + 1;
  }
  EXPECT_GT(compared, 70u);
  // And the other way round, where it matters most: the args, mounts and volumes are
  // the same, none more (the ConfigMap's name aside).
  auto document = manifestDocument("DaemonSet");
  EXPECT_EQ(argsOf(document), argsOf(rendered.lines));
  EXPECT_EQ(listUnder(document, "volumeMounts"), listUnder(rendered.lines, "volumeMounts"));
  auto volumes = listUnder(rendered.lines, "volumes");
  auto manifestVolumes = listUnder(document, "volumes");
  ASSERT_EQ(volumes.size(), manifestVolumes.size());
  for (size_t i = 0; i < volumes.size(); ++i) {
    for (auto& [key, text] : volumes[i]) {
      if (text.find("{{") != std::string::npos) text = manifestVolumes[i][key];
    }
    EXPECT_EQ(volumes[i], manifestVolumes[i]) << "volume " << i;
  }
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
  // CDI on, with the plain device specs kept and the host nodes' owners and modes.
  EXPECT_EQ(values["cdi.enabled"], "true");
  EXPECT_EQ(values["cdi.devices"], "cri");
  EXPECT_EQ(values["cdi.deviceSpecs"], "on");
  for (const char* key : {"uid", "gid", "fileMode"}) {
    EXPECT_EQ(values[std::string("cdi.nodeOwnership.") + key], "") << key;
  }
  for (const auto& [path, value] : values) {
    EXPECT_FALSE(path.starts_with("deviceGroup")) << path << " was removed (cdi.*)";
  }
  EXPECT_EQ(values["nodeSelector"], "{}");
  // The pod-resources API shows every pod on the node: mounted only when asked for.
  EXPECT_EQ(values["podResources.enabled"], "false");
}

TEST(HelmChart, NoRenderingHasAnInitContainer) {
  // The old opt-in device-group init container changed the host's nodes; CDI replaced it.
  for (const auto& [name, overrides] : renderingsToCheck()) {
    Rendering rendered = renderDaemonSet(overrides);
    ASSERT_EQ(rendered.error, "") << name;
    for (const auto& line : rendered.lines) {
      EXPECT_THAT(line, ::testing::Not(HasSubstr("initContainers"))) << name;
    }
    EXPECT_EQ(listUnder(rendered.lines, "containers").size(), 1u) << name;
  }
  EXPECT_THAT(read(kChart / "templates/daemonset.yaml"),
              ::testing::Not(HasSubstr("initContainers")));
  EXPECT_THAT(read(kManifest), ::testing::Not(HasSubstr("initContainers")));
}

TEST(Deploy, TheOnlyHostPathsWrittenAreThePluginDirAndTheCdiDir) {
  const std::set<std::string> withCdi{"/var/lib/kubelet/device-plugins", "/var/run/cdi"};
  EXPECT_EQ(writableHostPaths(manifestDocument("DaemonSet")), withCdi);
  for (const auto& [name, overrides] : renderingsToCheck()) {
    Rendering rendered = renderDaemonSet(overrides);
    ASSERT_EQ(rendered.error, "") << name;
    bool cdi = !overrides.contains("cdi.enabled");
    EXPECT_EQ(writableHostPaths(rendered.lines),
              cdi ? withCdi : std::set<std::string>{"/var/lib/kubelet/device-plugins"})
        << name;
    // Every mount has its volume and every volume its mount.
    std::set<std::string> mounted;
    std::set<std::string> declared;
    for (auto& mount : listUnder(rendered.lines, "volumeMounts")) mounted.insert(mount["name"]);
    for (auto& volume : listUnder(rendered.lines, "volumes")) declared.insert(volume["name"]);
    EXPECT_EQ(mounted, declared) << name;
  }
  // The CDI dir is mounted where the host has it, which is where the workers write.
  for (const auto& document : {manifestDocument("DaemonSet"), renderDaemonSet().lines}) {
    std::map<std::string, std::string> cdiMount;
    for (auto& mount : listUnder(document, "volumeMounts")) {
      if (mount["name"] == "cdi") cdiMount = mount;
    }
    EXPECT_EQ(cdiMount,
              (std::map<std::string, std::string>{{"name", "cdi"}, {"mountPath", "/var/run/cdi"}}));
    std::map<std::string, std::string> cdiVolume;
    for (auto& volume : listUnder(document, "volumes")) {
      if (volume["name"] == "cdi") cdiVolume = volume;
    }
    EXPECT_EQ(cdiVolume["hostPath.path"], "/var/run/cdi");
    EXPECT_EQ(cdiVolume["hostPath.type"], "DirectoryOrCreate");
  }
  auto check = runCommand({MVF_SUPERVISOR, "--check-config"});
  EXPECT_THAT(check.output, HasSubstr("cdi-dir = /var/run/cdi  # default"));
}

TEST(HelmChart, WithoutCdiNoCdiMountAndNoCdiFlag) {
  Rendering rendered = renderDaemonSet({{"cdi.enabled", "false"},
                                        {"cdi.nodeOwnership.gid", "107"},
                                        {"cdi.nodeOwnership.fileMode", "0660"}});
  ASSERT_EQ(rendered.error, "");
  EXPECT_EQ(argsOf(rendered.lines),
            (std::vector<std::string>{"--config=/etc/mvf/config.ini", "--host-root=/host",
                                      "--metrics-address=0.0.0.0:9470"}));
  for (const auto& line : rendered.lines) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("/var/run/cdi")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("name: cdi")));
  }
}

TEST(HelmChart, PodResourcesMountsTheKubeletsDirReadOnlyOnlyWhenEnabled) {
  // Off (the default, and so the manifest): nothing of it.
  for (const auto& lines : {renderDaemonSet().lines, manifestDocument("DaemonSet")}) {
    for (const auto& line : lines) {
      EXPECT_THAT(line, ::testing::Not(HasSubstr("pod-resources")));
    }
  }
  Rendering rendered = renderDaemonSet({{"podResources.enabled", "true"}});
  ASSERT_EQ(rendered.error, "");
  // The dir, not the socket: the kubelet re-creates the socket when it restarts, which a
  // mount of the socket file itself would not follow. Read-only: clients connect to a
  // socket on a read-only mount, and nothing is written there.
  std::map<std::string, std::string> mount;
  for (auto& item : listUnder(rendered.lines, "volumeMounts")) {
    if (item["name"] == "pod-resources") mount = item;
  }
  EXPECT_EQ(mount,
            (std::map<std::string, std::string>{{"name", "pod-resources"},
                                                {"mountPath", "/var/lib/kubelet/pod-resources"},
                                                {"readOnly", "true"},
                                                {"recursiveReadOnly", "IfPossible"}}));
  std::map<std::string, std::string> volume;
  for (auto& item : listUnder(rendered.lines, "volumes")) {
    if (item["name"] == "pod-resources") volume = item;
  }
  EXPECT_EQ(volume["hostPath.path"], "/var/lib/kubelet/pod-resources");
  EXPECT_EQ(volume["hostPath.type"], "DirectoryOrCreate");
  // At the same path, where `mvfctl allocations` looks by default: no flag needed.
  EXPECT_EQ(argsOf(rendered.lines), argsOf(renderDaemonSet().lines));
  auto help = runCommand({MVFCTL, "allocations", "--help"});
  EXPECT_THAT(help.output, HasSubstr("(=/var/lib/kubelet/pod-resources/kubelet.sock)"));
}

TEST(HelmChart, CdiValuesReachTheArgsAndTheBinariesAcceptThem) {
  std::vector<std::string> base{"--config=/etc/mvf/config.ini", "--host-root=/host",
                                "--cdi-devices=cri", "--device-specs=on",
                                "--metrics-address=0.0.0.0:9470"};
  EXPECT_EQ(argsOf(renderDaemonSet().lines), base);
  struct Case {
    Overrides overrides;
    std::vector<std::string> args;  // after --host-root
  };
  std::vector<Case> cases{
      {{{"cdi.nodeOwnership.gid", "107"}, {"cdi.nodeOwnership.fileMode", "0660"}},
       {"--cdi-devices=cri", "--device-specs=on", "--cdi-node-gid=107",
        "--cdi-node-file-mode=0660"}},
      // uid 0 is an owner, not "unset".
      {{{"cdi.nodeOwnership.uid", "0"}, {"cdi.nodeOwnership.gid", "107"}},
       {"--cdi-devices=cri", "--device-specs=on", "--cdi-node-uid=0", "--cdi-node-gid=107"}},
      {{{"cdi.nodeOwnership.uid", "1000"}},
       {"--cdi-devices=cri", "--device-specs=on", "--cdi-node-uid=1000"}},
      {{{"cdi.devices", "annotations"}, {"cdi.deviceSpecs", "off"}},
       {"--cdi-devices=annotations", "--device-specs=off"}},
      // An unquoted off in a values file is YAML's false.
      {{{"cdi.deviceSpecs", "false"}}, {"--cdi-devices=cri", "--device-specs=off"}},
  };
  FakeNode node;
  std::string config = node.dir() + "/config.ini";
  std::ofstream(config) << configBlock(manifestDocument("ConfigMap"));
  for (const auto& [overrides, args] : cases) {
    std::string name;
    for (const auto& [path, text] : overrides) name += path + "=" + text + " ";
    Rendering rendered = renderDaemonSet(overrides);
    ASSERT_EQ(rendered.error, "") << name;
    std::vector<std::string> wanted{"--config=/etc/mvf/config.ini", "--host-root=/host"};
    wanted.insert(wanted.end(), args.begin(), args.end());
    wanted.push_back("--metrics-address=0.0.0.0:9470");
    EXPECT_EQ(argsOf(rendered.lines), wanted) << name;
    // The supervisor takes them, and so does every worker it asks.
    std::vector<std::string> argv{MVF_SUPERVISOR, "--check-config"};
    for (const auto& arg : argsOf(rendered.lines)) {
      argv.push_back(arg.starts_with("--config=") ? "--config=" + config : arg);
    }
    auto result = runCommand(argv);
    EXPECT_EQ(result.exitCode, 0) << name << result.output;
    for (const auto& arg : args) {
      auto eq = arg.find('=');
      std::string option = arg.substr(2, eq - 2);
      EXPECT_THAT(result.output,
                  HasSubstr(option + " = " + arg.substr(eq + 1) + "  # --" + option + "\n"))
          << name;
    }
  }
}

TEST(HelmChart, DeviceGroupValuesFailPointingToCdi) {
  // deviceGroup.* was removed: any of it set, even to its old default, stops the render
  // with what to set instead, rather than being ignored.
  for (const auto& overrides : std::vector<Overrides>{{{"deviceGroup.enabled", "true"}},
                                                      {{"deviceGroup.enabled", "false"}},
                                                      {{"deviceGroup.gid", "107"}}}) {
    Rendering rendered = renderDaemonSet(overrides);
    EXPECT_THAT(rendered.error, HasSubstr("deviceGroup.* was removed")) << overrides.begin()->first;
    EXPECT_THAT(rendered.error, HasSubstr("cdi.nodeOwnership.gid=107"));
    EXPECT_THAT(rendered.error, HasSubstr("cdi.nodeOwnership.fileMode=0660"));
    EXPECT_TRUE(rendered.lines.empty());
  }
  EXPECT_EQ(renderDaemonSet().error, "");
  EXPECT_THAT(read(kChart / "templates/_helpers.tpl"), HasSubstr("define \"mvf.checkCdi\""));
  EXPECT_THAT(read(kChart / "templates/daemonset.yaml"),
              HasSubstr("{{- include \"mvf.checkCdi\" . }}"));
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

// The scalar entries of the map at `path` in `document`, each key a direct child of the one
// before ({"spec", "template", "metadata", "labels"}; {} for the top level). Comments are
// skipped, and so are entries whose value is a map or a list.
std::map<std::string, std::string> mapAt(const std::vector<std::string>& document,
                                         const std::vector<std::string>& path) {
  std::map<std::string, std::string> out;
  auto content = [&](size_t at) {
    std::string t = trim(document[at]);
    return !t.empty() && t.front() != '#';
  };
  auto indentOf = [&](size_t at) { return static_cast<long>(document[at].find_first_not_of(' ')); };
  size_t i = 0;
  long parentIndent = -1;
  for (const auto& key : path) {
    std::optional<long> childIndent;
    for (; i < document.size(); ++i) {
      if (!content(i)) continue;
      long indent = indentOf(i);
      if (indent <= parentIndent) return out;  // past the parent: no such key
      if (!childIndent) childIndent = indent;
      if (indent == *childIndent && trim(document[i]) == key + ":") break;
    }
    if (i == document.size()) return out;
    parentIndent = indentOf(i++);
  }
  std::regex entry(R"(^ *([A-Za-z0-9_./-]+): (.+)$)");
  std::optional<long> childIndent;
  for (; i < document.size(); ++i) {
    if (!content(i)) continue;
    long indent = indentOf(i);
    if (indent <= parentIndent) break;
    if (!childIndent) childIndent = indent;
    std::smatch match;
    if (indent == *childIndent && std::regex_match(document[i], match, entry)) {
      out[match[1]] = trim(match[2]);
    }
  }
  return out;
}

using Items = std::vector<std::map<std::string, std::string>>;

TEST(HelmChart, MetricsPortFlagAndScrapeAnnotationsFollowTheValues) {
  auto values = valuePaths();
  EXPECT_EQ(values["metrics.enabled"], "true");
  EXPECT_EQ(values["metrics.port"], "9470");
  // The chart's port is the supervisor's own default.
  EXPECT_THAT(runCommand({MVF_SUPERVISOR, "--check-config"}).output,
              HasSubstr("metrics-address = 0.0.0.0:9470  # default\n"));
  FakeNode node;
  std::string config = node.dir() + "/config.ini";
  std::ofstream(config) << configBlock(manifestDocument("ConfigMap"));
  for (const auto& [overrides, port] : std::vector<std::pair<Overrides, std::string>>{
           {{}, "9470"}, {{{"metrics.port", "9100"}}, "9100"}}) {
    SCOPED_TRACE("metrics.port " + port);
    Rendering rendered = renderDaemonSet(overrides);
    ASSERT_EQ(rendered.error, "");
    // On every address of the pod, at that port, named for the PodMonitor.
    auto args = argsOf(rendered.lines);
    ASSERT_FALSE(args.empty());
    EXPECT_EQ(args.back(), "--metrics-address=0.0.0.0:" + port);
    EXPECT_EQ(listUnder(rendered.lines, "ports"),
              (Items{{{"name", "metrics"}, {"containerPort", port}, {"protocol", "TCP"}}}));
    // The annotations Prometheus' pod discovery reads; an annotation's value is a string.
    auto annotations = mapAt(rendered.lines, {"spec", "template", "metadata", "annotations"});
    EXPECT_EQ(annotations["prometheus.io/scrape"], "\"true\"");
    EXPECT_EQ(annotations["prometheus.io/port"], "\"" + port + "\"");
    EXPECT_EQ(annotations["prometheus.io/path"], "/metrics");
    // The supervisor takes the flag.
    std::vector<std::string> argv{MVF_SUPERVISOR, "--check-config"};
    for (const auto& arg : args) {
      argv.push_back(arg.starts_with("--config=") ? "--config=" + config : arg);
    }
    auto result = runCommand(argv);
    EXPECT_EQ(result.exitCode, 0) << result.output;
    EXPECT_THAT(result.output,
                HasSubstr("metrics-address = 0.0.0.0:" + port + "  # --metrics-address\n"));
  }
  // The plain manifest, the default rendering, has them too.
  auto manifest = manifestDocument("DaemonSet");
  EXPECT_EQ(mapAt(manifest, {"spec", "template", "metadata", "annotations"}),
            (std::map<std::string, std::string>{{"prometheus.io/scrape", "\"true\""},
                                                {"prometheus.io/port", "\"9470\""},
                                                {"prometheus.io/path", "/metrics"}}));
  EXPECT_EQ(listUnder(manifest, "ports"),
            (Items{{{"name", "metrics"}, {"containerPort", "9470"}, {"protocol", "TCP"}}}));
}

TEST(HelmChart, MetricsDisabledIsOffWithNoPortAndNoAnnotations) {
  Rendering rendered = renderDaemonSet({{"metrics.enabled", "false"}});
  ASSERT_EQ(rendered.error, "");
  auto args = argsOf(rendered.lines);
  ASSERT_FALSE(args.empty());
  EXPECT_EQ(args.back(), "--metrics-address=off");
  EXPECT_EQ(std::count_if(args.begin(), args.end(),
                          [](const auto& arg) { return arg.starts_with("--metrics-address"); }),
            1);
  for (const auto& line : rendered.lines) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("prometheus.io")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("ports:")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("containerPort")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("9470")));
  }
  // Only the config's checksum is left.
  auto annotations = mapAt(rendered.lines, {"spec", "template", "metadata", "annotations"});
  EXPECT_EQ(annotations.size(), 1u);
  EXPECT_TRUE(annotations.contains("checksum/config"));
  // The supervisor takes off, and so serves nothing.
  FakeNode node;
  std::string config = node.dir() + "/config.ini";
  std::ofstream(config) << configBlock(manifestDocument("ConfigMap"));
  std::vector<std::string> argv{MVF_SUPERVISOR, "--check-config"};
  for (const auto& arg : args) {
    argv.push_back(arg.starts_with("--config=") ? "--config=" + config : arg);
  }
  auto result = runCommand(argv);
  EXPECT_EQ(result.exitCode, 0) << result.output;
  EXPECT_THAT(result.output, HasSubstr("metrics-address = off  # --metrics-address\n"));
  // A PodMonitor of pods that serve no metrics is refused, not rendered.
  Rendering monitor = renderTemplate(
      "podmonitor.yaml", {{"metrics.enabled", "false"}, {"metrics.podMonitor.enabled", "true"}});
  EXPECT_THAT(monitor.error, HasSubstr("metrics.podMonitor.enabled needs metrics.enabled"));
  EXPECT_TRUE(monitor.lines.empty());
}

const fs::path kDashboard = kSource / "deploy/grafana/mvf-device-plugin.json";

nlohmann::json dashboard() {
  auto json = nlohmann::json::parse(read(kDashboard), nullptr, false);
  EXPECT_FALSE(json.is_discarded()) << kDashboard << " is not JSON";
  return json.is_discarded() ? nlohmann::json::object() : json;
}

// The dashboard's template variable of this name, or null.
nlohmann::json variable(const nlohmann::json& dashboard, const std::string& name) {
  for (const auto& entry : dashboard["templating"]["list"]) {
    if (entry.value("name", "") == name) return entry;
  }
  return nullptr;
}

TEST(HelmChart, ThePodMonitorOnlyWhenEnabledSelectsTheDaemonSetsPortMetrics) {
  EXPECT_EQ(valuePaths()["metrics.podMonitor.enabled"], "false");
  // Off by default (its CRD is the Prometheus Operator's): nothing, and not in the manifest.
  Rendering off = renderTemplate("podmonitor.yaml");
  ASSERT_EQ(off.error, "");
  EXPECT_TRUE(off.lines.empty());
  EXPECT_THAT(read(kManifest), ::testing::Not(HasSubstr("PodMonitor")));

  Rendering daemonSet = renderDaemonSet();
  ASSERT_EQ(daemonSet.error, "");
  auto podLabels = mapAt(daemonSet.lines, {"spec", "template", "metadata", "labels"});
  ASSERT_EQ(podLabels.size(), 2u);
  EXPECT_EQ(mapAt(daemonSet.lines, {"spec", "selector", "matchLabels"}), podLabels);

  Rendering on = renderTemplate("podmonitor.yaml", {{"metrics.podMonitor.enabled", "true"}});
  ASSERT_EQ(on.error, "");
  auto top = mapAt(on.lines, {});
  EXPECT_EQ(top["apiVersion"], "monitoring.coreos.com/v1");
  EXPECT_EQ(top["kind"], "PodMonitor");
  // The DaemonSet's pods, in its namespace.
  EXPECT_EQ(mapAt(on.lines, {"spec", "selector", "matchLabels"}), podLabels);
  EXPECT_EQ(mapAt(on.lines, {"metadata"})["namespace"],
            mapAt(daemonSet.lines, {"metadata"})["namespace"]);
  EXPECT_EQ(listUnder(on.lines, "matchNames"), (Items{{{"", valuePaths()["namespace"]}}}));
  EXPECT_EQ(mapAt(on.lines, {"metadata", "labels"}), podLabels);
  // Their port named metrics, on the path the supervisor serves, every interval.
  auto endpoints = listUnder(on.lines, "podMetricsEndpoints");
  ASSERT_EQ(endpoints.size(), 1u);
  EXPECT_EQ(endpoints[0]["port"], "metrics");
  EXPECT_EQ(endpoints[0]["path"], "/metrics");
  EXPECT_EQ(endpoints[0]["interval"], "30s");
  auto ports = listUnder(daemonSet.lines, "ports");
  ASSERT_EQ(ports.size(), 1u);
  EXPECT_EQ(ports[0]["name"], endpoints[0]["port"]);
  // The node the pod runs on as the label the dashboard's node variable takes.
  EXPECT_EQ(
      listUnder(on.lines, "relabelings"),
      (Items{{{"sourceLabels", "[__meta_kubernetes_pod_node_name]"}, {"targetLabel", "node"}}}));
  EXPECT_EQ(variable(dashboard(), "node").value("query", ""), "label_values(mvf_build_info, node)");

  // Its interval and extra labels (what the operator's podMonitorSelector matches).
  Rendering labelled = renderTemplate(
      "podmonitor.yaml", {{"metrics.podMonitor.enabled", "true"},
                          {"metrics.podMonitor.interval", "15s"},
                          {"metrics.podMonitor.labels.release", "kube-prometheus-stack"},
                          {"metrics.podMonitor.labels.team", "desktops"}});
  ASSERT_EQ(labelled.error, "");
  auto labels = podLabels;
  labels["release"] = "kube-prometheus-stack";
  labels["team"] = "desktops";
  EXPECT_EQ(mapAt(labelled.lines, {"metadata", "labels"}), labels);
  EXPECT_EQ(mapAt(labelled.lines, {"spec", "selector", "matchLabels"}), podLabels)
      << "its own labels, not the pods'";
  EXPECT_EQ(listUnder(labelled.lines, "podMetricsEndpoints")[0]["interval"], "15s");
}

// Every PromQL expression of the dashboard: its panels' queries (in rows too) and its query
// variables', each with where it is.
std::vector<std::pair<std::string, std::string>> dashboardExprs(const nlohmann::json& dashboard) {
  std::vector<std::pair<std::string, std::string>> exprs;
  std::function<void(const nlohmann::json&)> panels = [&](const nlohmann::json& list) {
    for (const auto& panel : list) {
      for (const auto& target : panel.value("targets", nlohmann::json::array())) {
        exprs.emplace_back("panel \"" + panel.value("title", "") + "\"", target.value("expr", ""));
      }
      panels(panel.value("panels", nlohmann::json::array()));
    }
  };
  panels(dashboard["panels"]);
  for (const auto& entry : dashboard["templating"]["list"]) {
    if (entry.value("type", "") != "query") continue;
    const auto& query = entry["query"];
    exprs.emplace_back("variable " + entry.value("name", ""),
                       query.is_string() ? query.get<std::string>() : query.value("query", ""));
  }
  return exprs;
}

// A supervisor's status with every worker of the catalog running and every counter counted:
// a status in which the supervisor exports every series it has.
supervisor::v1::SupervisorStatus everySeries() {
  supervisor::v1::SupervisorStatus status;
  status.set_version("0.1.0");
  for (const auto& name : catalog::resources()) {
    auto* worker = status.add_workers();
    worker->set_name(name);
    worker->set_resource(catalog::resourceName(name));
    worker->set_state(supervisor::v1::WorkerStatus::running);
    worker->set_pid(100);
    worker->set_started_at_unix_ms(1'000'000);
    worker->set_devices_total(1000);
    worker->set_devices_healthy(1000);
    worker->set_restarts(1);
    worker->mutable_last_exit()->set_exit_code(1);
    worker->mutable_last_exit()->set_at_unix_ms(1'500'000);
    (*worker->mutable_exits())["error"] = 1;
    auto* metrics = worker->mutable_metrics();
    metrics->set_registrations(2);
    metrics->set_kubelet_restarts(1);
    metrics->set_list_and_watch_messages(3);
    (*metrics->mutable_allocate_calls())["OK"] = 4;
    (*metrics->mutable_allocate_calls())["INVALID_ARGUMENT"] = 1;
    for (auto* histogram : {metrics->mutable_allocate_seconds(), metrics->mutable_scan_seconds()}) {
      histogram->add_upper_bounds(0.001);
      histogram->add_upper_bounds(0.01);
      histogram->add_cumulative_counts(3);
      histogram->add_cumulative_counts(5);
      histogram->set_count(5);
      histogram->set_sum(0.02);
    }
    metrics->set_cdi_spec_writes(2);
    metrics->set_cdi_spec_write_errors(1);
  }
  return status;
}

// The names of the samples of a Prometheus text exposition (a histogram's _bucket, _sum and
// _count, a summary's quantiles, _sum and _count).
std::set<std::string> sampleNames(const std::string& exposition) {
  std::set<std::string> names;
  std::regex sample(R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ])");
  for (const auto& line : lines(exposition)) {
    std::smatch match;
    if (!line.starts_with("#") && std::regex_search(line, match, sample)) names.insert(match[1]);
  }
  return names;
}

// The body of an HTTP/1.0 GET of 127.0.0.1:port/metrics, "" when none came.
std::string scrapeOnce(int port) {
  base::UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) return "";
  std::string request = "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return "";
  }
  std::string response;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(fd.get(), buffer, sizeof(buffer), 0)) > 0;) {
    response.append(buffer, static_cast<size_t>(n));
  }
  auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

// What the supervisor's endpoint serves for `status`: prometheus-cpp's exposer (the one
// MetricsEndpoint runs) with metricFamilies, scraped over HTTP — the supervisor's series
// and the exposer's own.
std::string exposition(const supervisor::v1::SupervisorStatus& status) {
  struct Families : prometheus::Collectable {
    supervisor::v1::SupervisorStatus status;
    std::vector<prometheus::MetricFamily> Collect() const override {
      return supervisor::metricFamilies(status, 2'000'000);
    }
  };
  auto families = std::make_shared<Families>();
  families->status = status;
  prometheus::Exposer exposer("127.0.0.1:0", 1);  // civetweb picks a free port
  exposer.RegisterCollectable(families);
  auto ports = exposer.GetListeningPorts();
  EXPECT_EQ(ports.size(), 1u);
  return ports.empty() ? "" : scrapeOnce(ports[0]);
}

// PromQL identifiers that name a metric: the plugin's and the exposer's, and any name a
// selector's braces or range brackets follow.
std::set<std::string> metricsIn(const std::string& expr) {
  std::set<std::string> names;
  std::regex ours(R"(\b((mvf|exposer)_[a-zA-Z0-9_:]*))");
  std::regex selector(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[])");
  for (const auto& regex : {ours, selector}) {
    for (std::sregex_iterator it(expr.begin(), expr.end(), regex), end; it != end; ++it) {
      names.insert((*it)[1]);
    }
  }
  return names;
}

TEST(Deploy, TheDashboardUsesOnlyMetricsThePluginExports) {
  auto status = everySeries();
  // The names the supervisor's families make, as the text format spells them...
  std::ostringstream text;
  prometheus::TextSerializer().Serialize(text, supervisor::metricFamilies(status, 2'000'000));
  std::set<std::string> families = sampleNames(text.str());
  EXPECT_TRUE(families.contains("mvf_allocate_duration_seconds_bucket"));
  // ...and what an endpoint serving them sends: those, and the exposer's own.
  std::set<std::string> exported = sampleNames(exposition(status));
  for (const auto& name : families) EXPECT_TRUE(exported.contains(name)) << name << " not served";
  for (const char* name :
       {"exposer_transferred_bytes_total", "exposer_scrapes_total", "exposer_request_latencies",
        "exposer_request_latencies_sum", "exposer_request_latencies_count"}) {
    EXPECT_TRUE(exported.contains(name)) << name;
  }

  auto exprs = dashboardExprs(dashboard());
  EXPECT_GE(exprs.size(), 10u);
  std::set<std::string> used;
  for (const auto& [where, expr] : exprs) {
    auto names = metricsIn(expr);
    EXPECT_FALSE(names.empty()) << where << " reads no metric of the plugin: " << expr;
    for (const auto& name : names) {
      EXPECT_TRUE(exported.contains(name))
          << where << " uses " << name << ", which the plugin does not export: " << expr;
      used.insert(name);
    }
  }
  EXPECT_GE(used.size(), 6u);
}

TEST(Deploy, TheDashboardHasItsPanelsPerNode) {
  auto json = dashboard();
  // What Grafana imports: a dashboard of the current schema, not one exported with an id.
  EXPECT_GE(json.value("schemaVersion", 0), 36);
  EXPECT_EQ(json.value("uid", ""), "mvf-device-plugin");
  EXPECT_FALSE(json.value("title", "").empty());
  EXPECT_TRUE(json.contains("id") && json["id"].is_null());
  // The data source is a variable, chosen on import or provisioned: no UID of someone's.
  auto datasource = variable(json, "datasource");
  ASSERT_TRUE(datasource.is_object());
  EXPECT_EQ(datasource.value("type", ""), "datasource");
  EXPECT_EQ(datasource.value("query", ""), "prometheus");
  const nlohmann::json viaVariable = {{"type", "prometheus"}, {"uid", "${datasource}"}};
  // The node: every node, or some, by the `node` label (README, "Scraping"); All matches
  // series without it too.
  auto node = variable(json, "node");
  ASSERT_TRUE(node.is_object());
  EXPECT_EQ(node["datasource"], viaVariable);
  EXPECT_TRUE(node.value("includeAll", false));
  EXPECT_TRUE(node.value("multi", false));
  EXPECT_EQ(node.value("allValue", ""), ".*");

  // Each panel the issue asks for, by title, reading what it says.
  struct Wanted {
    std::string title;
    std::vector<std::string> in;  // each in one of its expressions
  };
  std::vector<Wanted> wanted{
      {"Devices: healthy vs total", {"mvf_devices{", "mvf_devices_healthy{", "resource"}},
      {"Allocate rate by code", {"rate(mvf_allocate_requests_total{", "code"}},
      {"Allocate p99",
       {"histogram_quantile(0.99, sum by (le, ", "rate(mvf_allocate_duration_seconds_bucket{"}},
      {"Worker restarts (1h)", {"increase(mvf_worker_restarts_total{", "[1h]"}},
      {"Crash loops", {"mvf_worker_crash_looping{"}},
      {"Workers up", {"mvf_worker_up{"}},
  };
  std::map<std::string, nlohmann::json> byTitle;
  std::set<int> ids;
  for (const auto& panel : json["panels"]) {
    std::string title = panel.value("title", "");
    EXPECT_TRUE(byTitle.emplace(title, panel).second) << "two panels titled " << title;
    EXPECT_TRUE(ids.insert(panel.value("id", 0)).second) << "id of " << title;
    EXPECT_TRUE(panel.contains("gridPos") && panel["gridPos"].contains("w")) << title;
    EXPECT_EQ(panel["datasource"], viaVariable) << title;
    ASSERT_FALSE(panel.value("targets", nlohmann::json::array()).empty()) << title;
    std::set<std::string> refIds;
    for (const auto& target : panel["targets"]) {
      EXPECT_EQ(target["datasource"], viaVariable) << title;
      EXPECT_TRUE(refIds.insert(target.value("refId", "")).second) << title;
      // Every selector of a metric takes the node variable.
      std::string expr = target.value("expr", "");
      std::regex selector(R"(\b(mvf|exposer)_[a-z0-9_]*(\{[^}]*\})?)");
      for (std::sregex_iterator it(expr.begin(), expr.end(), selector), end; it != end; ++it) {
        EXPECT_THAT((*it)[2].str(), HasSubstr("node=~\"$node\"")) << title << ": " << expr;
      }
    }
  }
  for (const auto& [title, in] : wanted) {
    auto it = byTitle.find(title);
    ASSERT_NE(it, byTitle.end()) << "no panel " << title;
    std::string exprs;
    for (const auto& target : it->second["targets"]) exprs += target.value("expr", "") + "\n";
    for (const auto& part : in) EXPECT_THAT(exprs, HasSubstr(part)) << title;
    // Per node: by node, and so by the label the variable selects.
    EXPECT_THAT(exprs, HasSubstr("node")) << title;
  }
  // Healthy and total side by side: one panel, two queries.
  EXPECT_EQ(byTitle["Devices: healthy vs total"]["targets"].size(), 2u);
}

}  // namespace
}  // namespace mvf::testing
