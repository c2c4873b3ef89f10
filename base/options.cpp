// Parsing options: flags, env, the INI file, precedence and checks (docs/architecture.md,
// "Options"). What the values are and how they are checked: option_values.cpp.
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
#include "base/quote.h"

namespace po = boost::program_options;

namespace mvf::base {
namespace {

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
    return Error{"config file " + path + ": " + optionError(e)};
  }
  Ini ini;
  for (const auto& option : parsed.options) {
    const std::string& key = option.string_key;
    size_t dot = key.find('.');
    if (dot == std::string::npos) {
      return Error{"config file " + path + ": option " + quote(key) + " is outside any [section]"};
    }
    std::string section = key.substr(0, dot);
    std::string name = key.substr(dot + 1);
    if (std::find(sections.begin(), sections.end(), section) == sections.end()) {
      return Error{fmt::format("config file {}: unknown section [{}] (known: {})", path,
                               quote(section, kQuoteLimit, Quotes::kIfNeeded),
                               fmt::join(sections, ", "))};
    }
    auto& slot = ini[section][name];
    if (!slot.source.empty()) {
      return Error{"config file " + path + ": option " + quote(name) + " is set twice in [" +
                   section + "]"};
    }
    slot.values = option.value.empty() ? std::vector<std::string>{""} : option.value;
    slot.source = "[" + section + "] in " + path;
  }
  return ini;
}

}  // namespace

std::string optionError(const po::error& e) {
  const auto* named = dynamic_cast<const po::error_with_option_name*>(&e);
  if (named == nullptr) return e.what();  // a fixed text, with nothing of the input
  // The option as given; for a line of an INI file that is no option, the line.
  const auto* fileLine = dynamic_cast<const po::invalid_config_file_syntax*>(&e);
  std::string name = quote(fileLine != nullptr ? fileLine->tokens() : named->get_option_name());
  if (dynamic_cast<const po::unknown_option*>(&e)) return "unrecognised option " + name;
  if (dynamic_cast<const po::ambiguous_option*>(&e)) return "ambiguous option " + name;
  if (dynamic_cast<const po::multiple_occurrences*>(&e)) {
    return "option " + name + " cannot be given more than once";
  }
  if (dynamic_cast<const po::multiple_values*>(&e)) return "option " + name + " takes one value";
  if (dynamic_cast<const po::required_option*>(&e)) return "option " + name + " is required";
  if (const auto* syntax = dynamic_cast<const po::invalid_syntax*>(&e)) {
    switch (syntax->kind()) {
      case po::invalid_syntax::missing_parameter:
        return "option " + name + " needs a value";
      case po::invalid_syntax::extra_parameter:
        return "option " + name + " takes no value";
      case po::invalid_syntax::unrecognized_line:
        return "invalid line " + name;
      default:
        return "option " + name + " is not written the way options are";
    }
  }
  if (dynamic_cast<const po::validation_error*>(&e)) return "invalid value for option " + name;
  return "option " + name + " is not accepted";
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
    return Error{optionError(e)};
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
      return Error{"invalid value " + quote(format) + " for check-config: expected text or json"};
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
      if (!allowed) return Error{"unknown option " + quote(name) + " in " + value.source};
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
          return Error{"invalid value " + quote(value) + " for " + spec.name + " (from " +
                       entry.source + "): " + problem};
        }
      }
    }
    parsed.settings.set(spec.name, std::move(entry));
  }
  return parsed;
}

std::vector<std::string> splitList(std::string_view text, char separator) {
  std::vector<std::string> items;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find(separator, start);
    if (end == std::string_view::npos) end = text.size();
    std::string item = trim(text.substr(start, end - start));
    if (!item.empty()) items.push_back(std::move(item));
    start = end + 1;
  }
  return items;
}

}  // namespace mvf::base
