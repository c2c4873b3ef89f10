#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace mvf::base {

using Duration = std::chrono::milliseconds;

// Where an option's value may come from (DESIGN §5): a flag, an MVF_<OPTION> env var,
// the worker's own INI section, the INI [global] section, the built-in default.
enum class Scope {
  kFlagOnly,   // only on the command line (--notify-fd)
  kFlagOrEnv,  // flag or env, never the INI file (--config itself)
  kWorker,     // flag, env, the worker's section (never [global], e.g. `mode`)
  kCommon,     // flag, env, the worker's section, [global]
};

// Returns why a value is bad ("expected an integer from 1 to 10000"), or "" when it is fine.
using ValueCheck = std::function<std::string(std::string_view)>;

struct OptionSpec {
  std::string name;          // as on the command line without "--": "shared-count"
  std::string defaultValue;  // "" means unset unless given
  std::string help;
  Scope scope = Scope::kCommon;
  ValueCheck check;         // null: any value
  bool repeatable = false;  // a list: repeat the flag; comma-separated in env and INI
};

ValueCheck integerIn(int64_t min, int64_t max);
ValueCheck oneOf(std::vector<std::string> choices);
ValueCheck durationIn(Duration min, Duration max);
// "0" (whatever the duration turns off) or a duration from min to max.
ValueCheck offOrDurationIn(Duration min, Duration max);
ValueCheck absolutePath();

// "500ms", "30s", "2m", "1h", "0" → milliseconds; nullopt for anything else.
std::optional<Duration> parseDuration(std::string_view text);
// The other way: 500 → "500ms", 30000 → "30s", 3600000 → "1h", 0 → "0".
std::string formatDuration(Duration duration);

// The effective value of every option after precedence, with where each one came from.
// Every value has passed its option's check, so the typed getters cannot fail on a
// declared option.
class Settings {
 public:
  struct Entry {
    std::vector<std::string> values;  // one element unless the option is repeatable
    std::string source;               // "--shared-count", "MVF_SHARED_COUNT", "[udma] in F"...
  };

  bool has(const std::string& name) const;
  const std::string& text(const std::string& name) const;
  const std::vector<std::string>& list(const std::string& name) const;
  int64_t integer(const std::string& name) const;
  Duration duration(const std::string& name) const;
  // Where the value came from: "--name", "MVF_NAME", "[section] in FILE", "default"...
  const std::string& source(const std::string& name) const;

  // One "name = value  # source" line per option, in declaration order.
  std::string describe() const;

  void set(const std::string& name, Entry entry);

 private:
  std::vector<std::string> order_;
  std::map<std::string, Entry> entries_;
};

enum class Action { kRun, kHelp, kPrintVersion, kCheckConfig };

struct ParsedOptions {
  Action action = Action::kRun;
  Settings settings;
  std::string help;  // the --help text
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> processEnv(const std::string& name);

// Every INI section a config file may hold; any other section is a typo and an error.
inline const std::vector<std::string> kConfigSections = {"global", "supervisor", "x11", "udma",
                                                         "vfio",   "igpu",       "usb"};

// Parses the command line, the MVF_* environment and the INI file named by --config (or
// MVF_CONFIG), for the INI section `section`. Returns the options, or an error text that
// names the offending option, value and where it came from.
std::variant<ParsedOptions, std::string> parseOptions(const std::vector<OptionSpec>& specs,
                                                      const std::string& section,
                                                      const std::vector<std::string>& args,
                                                      const EnvLookup& env = processEnv);

// The text without surrounding whitespace (as isspace() says), the way sysfs attributes
// and selectors are compared.
std::string trim(std::string_view text);

// "shared-count" → "MVF_SHARED_COUNT"
std::string envName(std::string_view option);

}  // namespace mvf::base
