// The Helm chart against itself and against the plain manifest, without helm (not in
// Debian 12): every .Values path a template uses exists in values.yaml; the chart's
// ConfigMap renders, with the default values, the manifest's config, and the binaries
// accept it; the DaemonSet template, rendered here for a few sets of values, is the
// manifest with the default ones, never has an init container, writes to no host path but
// the kubelet's plugin dir and the CDI dir, and refuses the removed deviceGroup.* values;
// the host paths are the ones the workers read; the resource names are the plugin's.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
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
  std::vector<std::string> lines;  // the DaemonSet document
  std::string error;               // a {{ fail }}'s message: then Helm renders nothing
};

// The chart's daemonset.yaml with values.yaml and `overrides`, rendered line by line. Its
// directives are few, so they are rendered here: {{- if }} / {{- else }} / {{- with }} /
// {{- end }} lines on a .Values path, on hasKey .Values "key", or on a text helper's
// result; {{- fail "…" }}; {{ .Values.path }}, {{ . }} and {{ include "<text helper>"
// .Values.path }} in a line. Lines with other directives (names, labels, toYaml) stay as
// written. The value checks of mvf.checkCdi run under Helm only. A control directive not
// known here fails the test: extend this, then use it.
Rendering renderDaemonSet(const Overrides& overrides = {}) {
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
    std::string dot;  // {{ . }} inside a with
  };
  std::vector<Block> blocks;
  auto on = [&] {
    return std::all_of(blocks.begin(), blocks.end(), [](const Block& b) { return b.on; });
  };
  // A condition's truth and what {{ . }} is inside it.
  auto condition = [&](const std::string& text, const std::string& line) -> Block {
    std::smatch match;
    if (std::regex_match(text, match, std::regex(R"(\.Values\.([A-Za-z0-9_.]+))"))) {
      return {truthy(value(match[1])), value(match[1])};
    }
    if (std::regex_match(text, match, std::regex(R"~(hasKey \.Values "([A-Za-z0-9_]+)")~"))) {
      return {hasKey(match[1]), ""};
    }
    if (std::regex_match(text, match,
                         std::regex(R"~(include "([a-zA-Z.]+)" \.Values\.([A-Za-z0-9_.]+))~"))) {
      if (auto result = helper(match[1], value(match[2]))) return {!result->empty(), *result};
    }
    ADD_FAILURE() << "a condition this test does not render: " << line;
    return {false, ""};
  };
  std::regex control(
      R"~(^ *\{\{- (if|with|else|end|fail|include "mvf\.check[A-Za-z]+")(.*?) \}\}$)~");
  std::regex unknownControl(R"(\{\{-? *(if|with|range|else|end|define|template|block)\b)");
  std::regex inLine(
      R"~(\{\{ (\.Values\.([A-Za-z0-9_.]+)|\.|include "([a-zA-Z.]+)" \.Values\.([A-Za-z0-9_.]+)) \}\})~");
  Rendering out;
  for (const auto& line : lines(read(kChart / "templates/daemonset.yaml"))) {
    std::smatch match;
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
            {"cdi.nodeOwnership.fileMode", "0660"}}}};
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
            (std::vector<std::string>{"--config=/etc/mvf/config.ini", "--host-root=/host"}));
  for (const auto& line : rendered.lines) {
    EXPECT_THAT(line, ::testing::Not(HasSubstr("/var/run/cdi")));
    EXPECT_THAT(line, ::testing::Not(HasSubstr("name: cdi")));
  }
}

TEST(HelmChart, CdiValuesReachTheArgsAndTheBinariesAcceptThem) {
  std::vector<std::string> base{"--config=/etc/mvf/config.ini", "--host-root=/host",
                                "--cdi-devices=cri", "--device-specs=on"};
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

}  // namespace
}  // namespace mvf::testing
