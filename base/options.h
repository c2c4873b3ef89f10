#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace boost::program_options {
class error;
}  // namespace boost::program_options

namespace mvf::base {

using Duration = std::chrono::milliseconds;

// Where an option's value may come from (docs/architecture.md, "Options"): a flag, an
// MVF_<OPTION> env var, the program's own INI section, the [global] section, the default.
enum class Scope {
  kFlagOnly,       // only on the command line (--notify-fd)
  kNoConfigFile,   // flag or env, never the INI file (--config itself)
  kOwnSection,     // flag, env, the program's own section; never [global] (a worker's mode)
  kGlobalSection,  // flag, env, the program's own section or [global]
};

// Returns why a value is bad ("expected an integer from 1 to 10000"), or "" when it is fine.
using ValueCheck = std::function<std::string(std::string_view)>;

struct OptionSpec {
  std::string name;          // as on the command line without "--": "shared-count"
  std::string defaultValue;  // "" means unset unless given
  std::string help;
  Scope scope = Scope::kGlobalSection;
  ValueCheck check;         // null: any value
  bool repeatable = false;  // a list: repeat the flag; comma-separated in env and INI
};

ValueCheck integerIn(int64_t min, int64_t max);
ValueCheck oneOf(std::vector<std::string> choices);
ValueCheck durationIn(Duration min, Duration max);
// "0" (whatever the duration turns off) or a duration from min to max.
ValueCheck offOrDurationIn(Duration min, Duration max);
ValueCheck absolutePath();
// Permission bits in octal, "0660" or "660", up to 0777 (no setuid, setgid or sticky).
ValueCheck fileMode();
std::optional<uint32_t> parseFileMode(std::string_view text);

// "500ms", "30s", "2m", "1h", "0" → milliseconds; nullopt for anything else.
std::optional<Duration> parseDuration(std::string_view text);
// The other way: 500 → "500ms", 30000 → "30s", 3600000 → "1h", 0 → "0".
std::string formatDuration(Duration duration);

// The text without surrounding whitespace (as isspace() says), the way sysfs attributes
// and selectors are compared.
std::string trim(std::string_view text);

// Whether `text` is non-empty and every byte is an ASCII decimal (isDigits) or hex
// (isHexDigits) digit. Whatever the locale: the names and attributes the kernel writes
// (card3, X12, IOMMU group 7, busnum, idVendor 8086) use ASCII digits only.
bool isDigits(std::string_view text);
bool isHexDigits(std::string_view text);

// How the program `qualifier`'s option `name` is spelled where several programs' options
// meet (a supervisor's command line, the environment): `name` itself when it already
// begins with "<qualifier>-" (igpu-vendor), else "<qualifier>-<name>" (vfio-mode).
std::string qualifiedName(std::string_view qualifier, std::string_view name);

// "a, b,,c" → {"a", "b", "c"}: the items between separators, trimmed, empty ones left
// out. Env vars and INI values carry lists comma-separated.
std::vector<std::string> splitList(std::string_view text, char separator = ',');

// What Boost.Program_options' error `e` says, with the option or line it names quoted
// (base::quote). Never e.what() for an error about a named option: Boost 1.74 fills its
// message by replacing placeholders ("%canonical_option%", "%value%", ...) until none is
// left, so an option or value that contains one itself makes what() loop forever.
std::string optionError(const boost::program_options::error& e);

// "shared-count" → "MVF_SHARED_COUNT"
std::string envName(std::string_view option);

// The effective value of every option after precedence, with where each one came from.
// Every value has passed its option's check, so the typed getters cannot fail on a
// declared option.
class Settings {
 public:
  struct Entry {
    std::vector<std::string> values;  // one element unless the option is repeatable
    std::string source;               // "--vfio-mode", "MVF_VFIO_MODE", "[vfio] in F"...
    bool fromFlagOnly = false;        // a kFlagOnly option: no setting, a wiring detail
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
  // A digest of the effective values, sources and kFlagOnly options left out: two
  // programs started with equal digests run with the same settings. 16 hex digits.
  std::string digest() const;

  // (name, entry) in declaration order.
  std::vector<std::pair<std::string, const Entry*>> entries() const;

  void set(const std::string& name, Entry entry);

 private:
  std::vector<std::string> order_;
  std::map<std::string, Entry> entries_;
};

enum class Action { kRun, kHelp, kPrintVersion, kCheckConfig };

struct ParsedOptions {
  Action action = Action::kRun;
  bool checkConfigJson = false;  // --check-config=json: machine-readable
  Settings settings;
  std::string help;  // the --help text
};

using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
std::optional<std::string> processEnv(const std::string& name);

// Who is parsing: which INI section is its own, which sections a config file may hold at
// all (any other is a typo and an error), and, for a worker, the qualifier its options
// are also spelled with.
struct OptionContext {
  std::string section;                // "vfio", "supervisor"
  std::vector<std::string> sections;  // every section a config file may hold
  std::string qualifier;              // "vfio": also --vfio-mode, MVF_VFIO_MODE; "" for none
};

// Parses the command line, the environment and the INI file named by --config (or
// MVF_CONFIG). Precedence, most specific first: the qualified flag (--vfio-mode), the
// plain flag (--mode), the qualified env var (MVF_VFIO_MODE), the plain env var
// (MVF_LOG_LEVEL, for kGlobalSection and kNoConfigFile options only), the program's own
// INI section, [global] (kGlobalSection only), the default. A plain env var set for a
// kOwnSection option of a qualified program is an error: it would reach every program
// at once (MVF_MODE → vfio, igpu and usb). Returns the options, or an Error naming the
// offending option, value and where it came from.
Result<ParsedOptions> parseOptions(const std::vector<OptionSpec>& specs,
                                   const OptionContext& context,
                                   const std::vector<std::string>& args,
                                   const EnvLookup& env = processEnv);

}  // namespace mvf::base
