#include "base/options.h"

#include <algorithm>
#include <boost/program_options.hpp>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "base/format.h"

namespace po = boost::program_options;

namespace mvf::base {
namespace {

std::optional<int64_t> parseInteger(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// "a, b,,c" → {"a", "b", "c"}: env vars and INI values carry lists comma-separated.
std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string item = trim(text.substr(start, comma - start));
    if (!item.empty()) items.push_back(std::move(item));
    start = comma + 1;
  }
  return items;
}

struct IniValue {
  std::vector<std::string> values;
  std::string source;
};
// section → option → value
using Ini = std::map<std::string, std::map<std::string, IniValue>>;

Result<Ini> readIni(const std::string& path, const std::vector<std::string>& sections) {
  std::ifstream in(path);
  if (!in) return Error{"cannot read config file " + path + ": " + std::strerror(errno), errno};
  po::parsed_options parsed(nullptr);
  try {
    parsed = po::parse_config_file(in, po::options_description(), /*allow_unregistered=*/true);
  } catch (const po::error& e) {
    return Error{"config file " + path + ": " + e.what()};
  }
  Ini ini;
  for (const auto& option : parsed.options) {
    const std::string& key = option.string_key;
    size_t dot = key.find('.');
    if (dot == std::string::npos) {
      return Error{"config file " + path + ": option '" + key + "' is outside any [section]"};
    }
    std::string section = key.substr(0, dot);
    std::string name = key.substr(dot + 1);
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      return Error{fmt::format("config file {}: unknown section [{}] (known: {})", path, section,
                               fmt::join(sections, ", "))};
    }
    auto& slot = ini[section][name];
    if (!slot.source.empty()) {
      return Error{"config file " + path + ": option '" + name + "' is set twice in [" + section +
                   "]"};
    }
    slot.values = option.value.empty() ? std::vector<std::string>{""} : option.value;
    slot.source = "[" + section + "] in " + path;
  }
  return ini;
}

}  // namespace

std::string trim(std::string_view text) {
  auto isSpace = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
  while (!text.empty() && isSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && isSpace(text.back())) text.remove_suffix(1);
  return std::string(text);
}

ValueCheck integerIn(int64_t min, int64_t max) {
  return [min, max](std::string_view text) -> std::string {
    auto value = parseInteger(text);
    if (value && *value >= min && *value <= max) return "";
    return "expected an integer from " + std::to_string(min) + " to " + std::to_string(max);
  };
}

ValueCheck oneOf(std::vector<std::string> choices) {
  return [choices = std::move(choices)](std::string_view text) -> std::string {
    if (std::find(choices.begin(), choices.end(), text) != choices.end()) return "";
    return fmt::format("expected one of: {}", fmt::join(choices, ", "));
  };
}

std::string formatDuration(Duration duration) {
  auto ms = duration.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

ValueCheck durationIn(Duration min, Duration max) {
  return [min, max](std::string_view text) -> std::string {
    auto value = parseDuration(text);
    if (value && *value >= min && *value <= max) return "";
    return "expected a duration from " + formatDuration(min) + " to " + formatDuration(max) +
           ", written like 500ms, 30s or 2m";
  };
}

ValueCheck offOrDurationIn(Duration min, Duration max) {
  return [check = durationIn(min, max)](std::string_view text) -> std::string {
    if (text == "0") return "";
    std::string problem = check(text);
    return problem.empty() ? ""
                           : "expected 0 (off) or " + problem.substr(problem.find("a duration"));
  };
}

ValueCheck absolutePath() {
  return [](std::string_view text) -> std::string {
    if (!text.empty() && text.front() == '/') return "";
    return "expected an absolute path";
  };
}

std::optional<Duration> parseDuration(std::string_view text) {
  if (text == "0") return Duration(0);  // zero needs no unit
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) {
    ++digits;
  }
  auto number = parseInteger(text.substr(0, digits));
  if (!number) return std::nullopt;
  std::string_view unit = text.substr(digits);
  int64_t scale = 0;
  if (unit == "ms") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1000;
  } else if (unit == "m") {
    scale = 60 * 1000;
  } else if (unit == "h") {
    scale = 3600 * 1000;
  } else {
    return std::nullopt;
  }
  if (*number > INT64_MAX / scale) return std::nullopt;
  return Duration(*number * scale);
}

std::string envName(std::string_view option) {
  std::string name = "MVF_";
  for (char c : option) {
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return name;
}

std::optional<std::string> processEnv(const std::string& name) {
  const char* value = std::getenv(name.c_str());
  if (value == nullptr) return std::nullopt;
  return std::string(value);
}

bool Settings::has(const std::string& name) const {
  auto it = entries_.find(name);
  return it != entries_.end() && !it->second.values.empty();
}

const std::string& Settings::text(const std::string& name) const {
  static const std::string kEmpty;
  const auto& values = list(name);
  return values.empty() ? kEmpty : values.front();
}

const std::vector<std::string>& Settings::list(const std::string& name) const {
  return entries_.at(name).values;
}

int64_t Settings::integer(const std::string& name) const { return *parseInteger(text(name)); }

Duration Settings::duration(const std::string& name) const { return *parseDuration(text(name)); }

const std::string& Settings::source(const std::string& name) const {
  return entries_.at(name).source;
}

void Settings::set(const std::string& name, Entry entry) {
  if (!entries_.contains(name)) order_.push_back(name);
  entries_[name] = std::move(entry);
}

std::string Settings::describe() const {
  std::ostringstream out;
  for (const auto& name : order_) {
    const Entry& entry = entries_.at(name);
    out << fmt::format("{} = {}  # {}\n", name, fmt::join(entry.values, ","), entry.source);
  }
  return out.str();
}

std::string qualifiedName(std::string_view qualifier, std::string_view name) {
  std::string prefix = std::string(qualifier) + "-";
  if (qualifier.empty() || name.starts_with(prefix)) return std::string(name);
  return prefix + std::string(name);
}

std::string Settings::digest() const {
  // FNV-1a, 64 bits, over "name=value,value\n" lines in declaration order.
  uint64_t hash = 0xcbf29ce484222325ULL;
  for (const auto& name : order_) {
    const Entry& entry = entries_.at(name);
    if (entry.fromFlagOnly) continue;
    for (char c : fmt::format("{}={}\n", name, fmt::join(entry.values, ","))) {
      hash = (hash ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
    }
  }
  return fmt::format("{:016x}", hash);
}

std::vector<std::pair<std::string, const Settings::Entry*>> Settings::entries() const {
  std::vector<std::pair<std::string, const Entry*>> out;
  for (const auto& name : order_) out.emplace_back(name, &entries_.at(name));
  return out;
}

Result<ParsedOptions> parseOptions(const std::vector<OptionSpec>& specs,
                                   const OptionContext& context,
                                   const std::vector<std::string>& args, const EnvLookup& env) {
  // Options of one program only: --notify-fd and --config are given to it alone.
  auto qualified = [&](const OptionSpec& spec) {
    bool own = spec.scope == Scope::kFlagOnly || spec.scope == Scope::kNoConfigFile;
    return own ? spec.name : qualifiedName(context.qualifier, spec.name);
  };
  po::options_description visible("Options");
  visible.add_options()("help", "print this help and exit")("version",
                                                            "print the version and exit")(
      "check-config", po::value<std::string>()->implicit_value("text"),
      "validate options and config, print the effective settings (=json: machine-readable), "
      "exit 0 or 78");
  po::options_description hidden;  // the qualified spellings
  for (const auto& spec : specs) {
    std::string help = spec.help;
    if (!spec.defaultValue.empty()) help += " (default: " + spec.defaultValue + ")";
    std::string q = qualified(spec);
    if (q != spec.name) help += " [also --" + q + "]";
    if (spec.scope == Scope::kGlobalSection && q != spec.name) {
      help += " [env " + envName(spec.name) + ", " + envName(q) + "]";
    } else if (spec.scope != Scope::kFlagOnly) {
      help += " [env " + envName(q) + "]";
    }
    auto add = [&](po::options_description& to, const std::string& name, const std::string& text) {
      if (spec.repeatable) {
        to.add_options()(name.c_str(), po::value<std::vector<std::string>>(), text.c_str());
      } else {
        to.add_options()(name.c_str(), po::value<std::string>(), text.c_str());
      }
    };
    add(visible, spec.name, help);
    if (q != spec.name) add(hidden, q, "");
  }
  po::options_description all;
  all.add(visible).add(hidden);

  po::variables_map flags;
  try {
    // No positional arguments: an empty description makes boost refuse any.
    // No abbreviations: --vfio-mod must not pass for --vfio-mode, here or on the way to a
    // worker (Boost guesses unique prefixes by default).
    auto style = po::command_line_style::default_style & ~po::command_line_style::allow_guessing;
    po::store(po::command_line_parser(args)
                  .options(all)
                  .style(style)
                  .positional(po::positional_options_description())
                  .run(),
              flags);
  } catch (const po::error& e) {
    return Error{e.what()};
  }

  ParsedOptions parsed;
  if (flags.count("help")) {
    std::ostringstream help;
    help << visible;
    parsed.action = Action::kHelp;
    parsed.help = help.str();
    return parsed;
  }
  if (flags.count("version")) parsed.action = Action::kPrintVersion;
  if (flags.count("check-config")) {
    const auto& format = flags["check-config"].as<std::string>();
    if (format != "text" && format != "json") {
      return Error{"invalid value '" + format + "' for check-config: expected text or json"};
    }
    parsed.action = Action::kCheckConfig;
    parsed.checkConfigJson = format == "json";
  }

  // The config file is named by --config or MVF_CONFIG, never by itself.
  Ini ini;
  std::optional<std::string> configPath;
  if (flags.count("config")) {
    configPath = flags["config"].as<std::string>();
  } else if (auto fromEnv = env(envName("config")); fromEnv && !fromEnv->empty()) {
    configPath = fromEnv;
  }
  if (configPath) {
    auto read = readIni(*configPath, context.sections);
    if (!read) return read.error();
    ini = std::move(read).value();
  }

  auto specFor = [&](const std::string& name) -> const OptionSpec* {
    for (const auto& spec : specs) {
      if (spec.name == name) return &spec;
    }
    return nullptr;
  };
  // Keys of the program's own section and of [global] must be options it knows there;
  // other sections are other programs' to check.
  for (const auto& [sectionName, options] : ini) {
    if (sectionName != context.section && sectionName != "global") continue;
    for (const auto& [name, value] : options) {
      const OptionSpec* spec = specFor(name);
      bool allowed = spec != nullptr &&
                     (spec->scope == Scope::kGlobalSection ||
                      (spec->scope == Scope::kOwnSection && sectionName == context.section));
      if (!allowed) return Error{"unknown option '" + name + "' in " + value.source};
    }
  }

  for (const auto& spec : specs) {
    Settings::Entry entry;
    entry.fromFlagOnly = spec.scope == Scope::kFlagOnly;
    std::string q = qualified(spec);
    auto fromFlag = [&](const std::string& name) {
      entry.source = "--" + name;
      entry.values = spec.repeatable ? flags[name].as<std::vector<std::string>>()
                                     : std::vector{flags[name].as<std::string>()};
    };
    auto fromEnv = [&](const std::string& name) -> bool {
      auto value = spec.scope == Scope::kFlagOnly ? std::nullopt : env(envName(name));
      if (!value) return false;
      entry.source = envName(name);
      entry.values = spec.repeatable ? splitList(*value) : std::vector{*value};
      return true;
    };
    bool plainEnvAllowed = spec.scope == Scope::kGlobalSection ||
                           spec.scope == Scope::kNoConfigFile || context.qualifier.empty();
    if (q != spec.name && flags.count(q)) {
      fromFlag(q);
    } else if (flags.count(spec.name)) {
      fromFlag(spec.name);
    } else if (fromEnv(q) || (plainEnvAllowed && q != spec.name && fromEnv(spec.name))) {
      // taken from the environment
    } else if (q != spec.name && env(envName(spec.name))) {
      return Error{envName(spec.name) + " is not read: " + spec.name + " is set per program; set " +
                   envName(q) + " instead"};
    } else {
      const IniValue* fromIni = nullptr;
      for (const std::string& from : {context.section, std::string("global")}) {
        if (spec.scope == Scope::kFlagOnly || spec.scope == Scope::kNoConfigFile) break;
        if (from == "global" && spec.scope != Scope::kGlobalSection) break;
        auto sectionIt = ini.find(from);
        if (sectionIt == ini.end()) continue;
        auto it = sectionIt->second.find(spec.name);
        if (it != sectionIt->second.end()) {
          fromIni = &it->second;
          break;
        }
      }
      if (fromIni != nullptr) {
        entry.source = fromIni->source;
        entry.values = spec.repeatable ? splitList(fromIni->values.front()) : fromIni->values;
      } else {
        entry.source = spec.defaultValue.empty() ? "unset" : "default";
        if (!spec.defaultValue.empty()) {
          entry.values =
              spec.repeatable ? splitList(spec.defaultValue) : std::vector{spec.defaultValue};
        }
      }
    }
    if (spec.check) {
      for (const auto& value : entry.values) {
        std::string problem = spec.check(value);
        if (!problem.empty()) {
          return Error{"invalid value '" + value + "' for " + spec.name + " (from " + entry.source +
                       "): " + problem};
        }
      }
    }
    parsed.settings.set(spec.name, std::move(entry));
  }
  return parsed;
}

}  // namespace mvf::base
