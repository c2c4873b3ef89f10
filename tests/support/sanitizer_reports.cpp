// Sanitizer reports of the processes a test starts — workers, the supervisor and the
// workers it starts, mvfctl — fail that test. Their exit codes cannot carry a report to
// the test: a worker killed at the end of a test, or one the supervisor restarts, is
// never waited for by the test. So when scripts/sanitize.sh names a report dir in
// MVF_SANITIZER_REPORTS, each test gives the processes it starts a log_path of its own
// (they inherit it through the environment), and fails when any report appeared there.
// The test process itself reports on stderr and fails by its exit code, as usual.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace mvf::testing {
namespace {

namespace fs = std::filesystem;

// The runtime options each sanitizer reads; log_path is appended to whichever is set.
constexpr const char* kOptionVars[] = {"ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS",
                                       "TSAN_OPTIONS"};

class SanitizerReports final : public ::testing::EmptyTestEventListener {
 public:
  explicit SanitizerReports(fs::path dir) : dir_(std::move(dir)) {
    for (const char* var : kOptionVars) {
      if (const char* value = ::getenv(var)) options_[var] = value;
    }
  }

  void OnTestStart(const ::testing::TestInfo& test) override {
    // A report file is <log_path>.<pid>; parameterized tests have '/' in their names.
    prefix_ = std::string(test.test_suite_name()) + "." + test.name();
    std::replace(prefix_.begin(), prefix_.end(), '/', '_');
    for (const auto& [var, value] : options_) {
      std::string withPath = value + ":log_path=" + (dir_ / prefix_).string();
      ::setenv(var.c_str(), withPath.c_str(), 1);
    }
  }

  // Runs before the result printer's OnTestEnd (gtest calls end events in reverse), so a
  // failure added here is the test's.
  void OnTestEnd(const ::testing::TestInfo&) override {
    for (const auto& [var, value] : options_) ::setenv(var.c_str(), value.c_str(), 1);
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(dir_, error)) {
      std::string name = entry.path().filename().string();
      if (!name.starts_with(prefix_ + ".")) continue;
      std::ifstream in(entry.path());
      std::stringstream report;
      report << in.rdbuf();
      ADD_FAILURE() << "a process this test started wrote a sanitizer report, " << entry.path()
                    << ":\n"
                    << report.str();
    }
  }

 private:
  const fs::path dir_;
  std::map<std::string, std::string> options_;  // as the test process was given them
  std::string prefix_;                          // the current test's report file name
};

const bool kWatching = [] {
  const char* dir = ::getenv("MVF_SANITIZER_REPORTS");
  if (dir == nullptr || *dir == '\0') return false;
  ::testing::UnitTest::GetInstance()->listeners().Append(new SanitizerReports(dir));
  return true;
}();

}  // namespace
}  // namespace mvf::testing
