// Option parsing: flag > MVF_* env > the worker's INI section > [global] > default, and
// every bad option or value refused with a message naming it and where it came from.
#include "base/options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "tests/support/fake_node.h"
#include "workers/core/worker_config.h"

namespace mvf::core {
namespace {

using ::testing::HasSubstr;

// A worker with both modes and a repeatable option of its own, like usb.
const ResourceSpec kSpec{
    .name = "usb",
    .hasExclusiveMode = true,
    .options = {{"usb-match", "", "VID:PID selectors", base::Scope::kOwnSection, nullptr, true},
                {"display", "", "a display number", base::Scope::kOwnSection,
                 base::integerIn(0, 63)}},
};

class OptionsTest : public ::testing::Test {
 protected:
  base::Result<base::ParsedOptions> parse(std::vector<std::string> args) {
    return base::parseOptions(workerOptions(kSpec), workerContext(kSpec), args,
                              [this](const std::string& name) {
                                auto it = env_.find(name);
                                return it == env_.end() ? std::nullopt : std::optional(it->second);
                              });
  }

  base::Settings settings(std::vector<std::string> args) {
    auto parsed = parse(std::move(args));
    if (!parsed) {
      ADD_FAILURE() << parsed.error().message;
      return {};
    }
    return parsed.value().settings;
  }

  std::string error(std::vector<std::string> args) {
    auto parsed = parse(std::move(args));
    return parsed ? "(no error)" : parsed.error().message;
  }

  std::string ini(const std::string& content) {
    std::string path = node_.dir() + "/config.ini";
    std::ofstream(path) << content;
    return path;
  }

  testing::FakeNode node_;
  std::map<std::string, std::string> env_;
};

TEST_F(OptionsTest, DefaultsApplyWhenNothingIsGiven) {
  base::Settings s = settings({});
  EXPECT_EQ(s.text("kubelet-dir"), "/var/lib/kubelet/device-plugins");
  EXPECT_EQ(s.text("host-root"), "/");
  EXPECT_EQ(s.integer("shared-count"), 1000);
  EXPECT_EQ(s.text("mode"), "shared");
  EXPECT_EQ(s.duration("resync-interval"), std::chrono::seconds(30));
  EXPECT_FALSE(s.has("notify-fd"));
  EXPECT_TRUE(s.list("usb-match").empty());
}

TEST_F(OptionsTest, PrecedenceIsFlagThenEnvThenSectionThenGlobalThenDefault) {
  std::string config =
      ini("[global]\nshared-count = 4\nlog-level = warn\nhost-root = /g\n"
          "[usb]\nshared-count = 3\nlog-level = error\n"
          "[udma]\nshared-count = 99\n");
  env_["MVF_CONFIG"] = config;
  env_["MVF_SHARED_COUNT"] = "2";
  base::Settings s = settings({"--shared-count", "1"});
  EXPECT_EQ(s.integer("shared-count"), 1);
  EXPECT_EQ(s.text("log-level"), "error");  // [usb] over [global]
  EXPECT_EQ(s.text("host-root"), "/g");     // [global] over the default

  env_.erase("MVF_SHARED_COUNT");
  EXPECT_EQ(settings({}).integer("shared-count"), 3);
  env_["MVF_SHARED_COUNT"] = "2";
  EXPECT_EQ(settings({}).integer("shared-count"), 2);
}

TEST_F(OptionsTest, DescribeNamesWhereEachValueCameFrom) {
  env_["MVF_LOG_LEVEL"] = "debug";
  std::string text = settings({"--shared-count", "5"}).describe();
  EXPECT_THAT(text, HasSubstr("shared-count = 5  # --shared-count"));
  EXPECT_THAT(text, HasSubstr("log-level = debug  # MVF_LOG_LEVEL"));
  EXPECT_THAT(text, HasSubstr("host-root = /  # default"));
}

TEST_F(OptionsTest, ListsRepeatAsFlagsAndAreCommaSeparatedInEnvAndIni) {
  EXPECT_EQ(
      settings({"--usb-match", "1d6b:0002", "--usb-match", "0627:0001:serial"}).list("usb-match"),
      (std::vector<std::string>{"1d6b:0002", "0627:0001:serial"}));
  env_["MVF_USB_MATCH"] = "a:b, c:d,,";
  EXPECT_EQ(settings({}).list("usb-match"), (std::vector<std::string>{"a:b", "c:d"}));
  env_.clear();
  env_["MVF_CONFIG"] = ini("[usb]\nusb-match = 1:2,3:4\n");
  EXPECT_EQ(settings({}).list("usb-match"), (std::vector<std::string>{"1:2", "3:4"}));
}

struct BadInput {
  const char* name;
  std::vector<std::string> args;
  std::map<std::string, std::string> env;
  std::string config;  // INI text, if any
  std::vector<std::string> mentions;
};

class BadOptionsTest : public OptionsTest, public ::testing::WithParamInterface<BadInput> {};

TEST_P(BadOptionsTest, IsRefusedWithAMessageNamingOptionValueAndSource) {
  const BadInput& input = GetParam();
  env_ = input.env;
  if (!input.config.empty()) env_["MVF_CONFIG"] = ini(input.config);
  std::string text = error(input.args);
  for (const auto& mention : input.mentions) EXPECT_THAT(text, HasSubstr(mention));
}

INSTANTIATE_TEST_SUITE_P(
    Table, BadOptionsTest,
    ::testing::Values(
        BadInput{"SharedCountNotANumber",
                 {"--shared-count", "abc"},
                 {},
                 "",
                 {"\"abc\"", "shared-count", "--shared-count"}},
        BadInput{"SharedCountZero", {"--shared-count", "0"}, {}, "", {"\"0\"", "from 1 to 10000"}},
        BadInput{"SharedCountTooBig", {"--shared-count", "10001"}, {}, "", {"\"10001\""}},
        BadInput{"SharedCountTrailingJunk", {"--shared-count", "5x"}, {}, "", {"\"5x\""}},
        BadInput{"SharedCountNegativeFromEnv",
                 {},
                 {{"MVF_SHARED_COUNT", "-3"}},
                 "",
                 {"\"-3\"", "MVF_SHARED_COUNT"}},
        BadInput{"UnknownMode", {"--mode", "both"}, {}, "", {"\"both\"", "shared, exclusive"}},
        BadInput{"UnknownLogLevel", {"--log-level", "loud"}, {}, "", {"\"loud\"", "log-level"}},
        BadInput{
            "RelativeKubeletDir", {"--kubelet-dir", "relative/dir"}, {}, "", {"absolute path"}},
        BadInput{"DurationWithoutUnit", {"--resync-interval", "30"}, {}, "", {"\"30\"", "500ms"}},
        BadInput{"DurationTooShort",
                 {"--resync-interval", "1ms"},
                 {},
                 "",
                 {"\"1ms\"", "resync-interval"}},
        BadInput{"HealthIntervalTooShort",
                 {"--health-interval", "1ms"},
                 {},
                 "",
                 {"\"1ms\"", "expected 0 (off) or a duration from 10ms to 1h"}},
        BadInput{"HealthIntervalWithoutUnit",
                 {"--health-interval", "5"},
                 {},
                 "",
                 {"\"5\"", "health-interval"}},
        BadInput{"DisplayOutOfRange", {"--display", "64"}, {}, "", {"\"64\"", "display"}},
        BadInput{"UnknownFlag", {"--bogus"}, {}, "", {"--bogus"}},
        BadInput{"AbbreviatedFlag", {"--shared-coun", "5"}, {}, "", {"--shared-coun"}},
        BadInput{"PositionalArgument", {"positional"}, {}, "", {"positional"}},
        BadInput{"FlagGivenTwice",
                 {"--shared-count", "1", "--shared-count", "2"},
                 {},
                 "",
                 {"shared-count"}},
        BadInput{"MissingConfigFile",
                 {"--config", "/nonexistent/mvf.ini"},
                 {},
                 "",
                 {"/nonexistent/mvf.ini"}},
        BadInput{"IniBadValue", {}, {}, "[usb]\nshared-count = many\n", {"\"many\"", "[usb] in"}},
        BadInput{"ModeInGlobal", {}, {}, "[global]\nmode = exclusive\n", {"\"mode\"", "[global]"}},
        BadInput{"IniUnknownKey", {}, {}, "[usb]\nshred-count = 5\n", {"\"shred-count\"", "[usb]"}},
        BadInput{"IniUnknownSection", {}, {}, "[usbb]\nmode = shared\n", {"[usbb]"}},
        BadInput{"IniKeyOutsideSection", {}, {}, "shared-count = 5\n", {"outside any [section]"}},
        BadInput{"IniKeyTwice", {}, {}, "[usb]\nmode = shared\nmode = exclusive\n", {"set twice"}},
        BadInput{"IniNotKeyValue", {}, {}, "[usb]\njust some words\n", {"invalid line"}},
        // Boost's own placeholders in what is given: before, each of these made Boost's
        // message loop forever (found by fuzz/options_fuzzer.cpp).
        BadInput{"PlaceholderInAFlag",
                 {"--c%original_token%di-devices", "cri"},
                 {},
                 "",
                 {"unrecognised option \"--c%original_token%di-devices\""}},
        BadInput{"PlaceholderInAFlagGivenTwice",
                 {"--%canonical_option%", "--%canonical_option%"},
                 {},
                 "",
                 {"%canonical_option%"}},
        BadInput{"PlaceholderInAnIniLine",
                 {},
                 {},
                 "[usb]\n%original_token% %value%\n",
                 {"invalid line", "%original_token%"}}),
    [](const auto& param) { return std::string(param.param.name); });

TEST_F(OptionsTest, OtherWorkersSectionsAreTheirsToCheck) {
  env_["MVF_CONFIG"] = ini("[x11]\ndisplay-thing = 1\n[usb]\nmode = exclusive\n");
  EXPECT_EQ(settings({}).text("mode"), "exclusive");
}

TEST_F(OptionsTest, ActionsAreRecognised) {
  EXPECT_EQ(parse({"--check-config"}).value().action, base::Action::kCheckConfig);
  EXPECT_EQ(parse({"--version"}).value().action, base::Action::kPrintVersion);
  auto help = parse({"--help"}).value();
  EXPECT_EQ(help.action, base::Action::kHelp);
  EXPECT_THAT(help.help, HasSubstr("MVF_SHARED_COUNT"));
}

TEST_F(OptionsTest, AWorkersOwnOptionHasItsQualifiedSpellingWhichWins) {
  auto set = settings({"--mode", "shared", "--usb-mode", "exclusive"});
  EXPECT_EQ(set.text("mode"), "exclusive");
  EXPECT_EQ(set.source("mode"), "--usb-mode");
  env_["MVF_USB_MODE"] = "exclusive";
  EXPECT_EQ(settings({}).source("mode"), "MVF_USB_MODE");
  // An option already named after the worker keeps its name: --usb-match, MVF_USB_MATCH.
  EXPECT_EQ(settings({"--usb-match", "1d6b:0002"}).source("usb-match"), "--usb-match");
}

TEST_F(OptionsTest, APlainEnvVarForAPerWorkerOptionIsRefusedNotAppliedToEveryWorker) {
  env_["MVF_MODE"] = "exclusive";  // would reach vfio, igpu and usb at once
  EXPECT_THAT(error({}), HasSubstr("MVF_MODE is not read"));
  EXPECT_THAT(error({}), HasSubstr("set MVF_USB_MODE instead"));
}

TEST_F(OptionsTest, ACommonOptionHasAPerWorkerOverride) {
  env_["MVF_SHARED_COUNT"] = "10";
  EXPECT_EQ(settings({}).text("shared-count"), "10");
  env_["MVF_USB_SHARED_COUNT"] = "20";
  EXPECT_EQ(settings({}).text("shared-count"), "20");
  EXPECT_EQ(settings({"--shared-count", "30"}).text("shared-count"), "30");
  EXPECT_EQ(settings({"--shared-count", "30", "--usb-shared-count", "40"}).source("shared-count"),
            "--usb-shared-count");
}

TEST_F(OptionsTest, TheDigestFollowsValuesNotWhereTheyCameFrom) {
  std::string flag = settings({"--shared-count", "10", "--notify-fd", "1"}).digest();
  env_["MVF_SHARED_COUNT"] = "10";
  EXPECT_EQ(settings({"--notify-fd", "2"}).digest(), flag) << "sources and the notify fd differ";
  EXPECT_NE(settings({"--shared-count", "11"}).digest(), flag);
  EXPECT_EQ(flag.size(), 16u);
}

TEST_F(OptionsTest, CheckConfigTakesJson) {
  auto parsed = parse({"--check-config=json"}).value();
  EXPECT_EQ(parsed.action, base::Action::kCheckConfig);
  EXPECT_TRUE(parsed.checkConfigJson);
  EXPECT_FALSE(parse({"--check-config"}).value().checkConfigJson);
  EXPECT_THAT(error({"--check-config=yaml"}), HasSubstr("expected text or json"));
}

TEST(ParseDuration, AcceptsWholeNumbersWithAUnit) {
  EXPECT_EQ(base::parseDuration("500ms"), base::Duration(500));
  EXPECT_EQ(base::parseDuration("30s"), base::Duration(30'000));
  EXPECT_EQ(base::parseDuration("2m"), base::Duration(120'000));
  EXPECT_EQ(base::parseDuration("1h"), base::Duration(3'600'000));
  for (const char* bad : {"", "s", "30", "1.5s", "-1s", "10 s", "1d", "99999999999999999999s"}) {
    EXPECT_EQ(base::parseDuration(bad), std::nullopt) << bad;
  }
}

TEST(FormatDuration, WritesTheLargestWholeUnit) {
  EXPECT_EQ(base::formatDuration(base::Duration(0)), "0");
  EXPECT_EQ(base::formatDuration(base::Duration(10)), "10ms");
  EXPECT_EQ(base::formatDuration(base::Duration(1500)), "1500ms");
  EXPECT_EQ(base::formatDuration(base::Duration(30'000)), "30s");
  EXPECT_EQ(base::formatDuration(base::Duration(600'000)), "10m");
  EXPECT_EQ(base::formatDuration(base::Duration(3'600'000)), "1h");
}

TEST(Digits, AreAsciiOnlyWhateverTheByte) {
  EXPECT_TRUE(base::isDigits("0123456789"));
  EXPECT_FALSE(base::isDigits(""));
  EXPECT_FALSE(base::isDigits("12a"));
  EXPECT_FALSE(base::isDigits(" 1"));
  // Bytes above 0x7f are negative chars here: no digit, and no call that could misread them.
  EXPECT_FALSE(base::isDigits("1\xb2"));
  EXPECT_FALSE(base::isDigits(std::string("1\0", 2)));
  EXPECT_TRUE(base::isHexDigits("8086aBcF"));
  EXPECT_FALSE(base::isHexDigits("80g6"));
  EXPECT_FALSE(base::isHexDigits("\xff"));
  EXPECT_FALSE(base::isHexDigits(""));
}

TEST(EnvName, IsMvfPrefixedUpperSnakeCase) {
  EXPECT_EQ(base::envName("shared-count"), "MVF_SHARED_COUNT");
  EXPECT_EQ(base::envName("kubelet-dir"), "MVF_KUBELET_DIR");
}

}  // namespace
}  // namespace mvf::core
