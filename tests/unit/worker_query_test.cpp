// askWorker: what the supervisor makes of a worker binary's --check-config=json answer,
// from stand-in binaries (shell scripts) that answer each way a worker could, or could not.
#include "supervisor/worker_query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "tests/support/fake_node.h"

namespace mvf::supervisor {
namespace {

using ::testing::HasSubstr;

class WorkerQueryTest : public ::testing::Test {
 protected:
  // A binary that prints `json` and exits with `code`, whatever it is asked.
  std::string worker(const std::string& json, int code) {
    std::string path = node_.dir() + "/worker-" + std::to_string(++made_);
    std::ofstream(path) << "#!/bin/sh\ncat <<'EOF'\n" << json << "\nEOF\nexit " << code << "\n";
    ::chmod(path.c_str(), 0755);
    return path;
  }

  testing::FakeNode node_;
  int made_ = 0;
};

TEST_F(WorkerQueryTest, ReadsAValidAnswerAndARefusal) {
  auto valid = askWorker(worker(R"({"valid":true,"error":"","settings":[{"name":"vfio-mode",)"
                                R"("values":["shared","x"],"source":"default"}],"digest":"3f"})",
                                0),
                         {}, /*json=*/true);
  ASSERT_TRUE(valid) << valid.error().message;
  EXPECT_TRUE(valid.value().valid);
  EXPECT_EQ(valid.value().digest, "3f");
  EXPECT_EQ(valid.value().settings.at("vfio-mode"), "shared,x");

  auto refused = askWorker(worker(R"({"valid":false,"error":"bad --vfio-mode"})", 78), {}, true);
  ASSERT_TRUE(refused) << refused.error().message;
  EXPECT_FALSE(refused.value().valid);
  EXPECT_EQ(refused.value().error, "bad --vfio-mode");
}

TEST_F(WorkerQueryTest, AnAnswerThatIsNoWorkersIsAnError) {
  struct Case {
    const char* json;
    int code;
    const char* said;
  };
  for (const Case& c : {
           Case{"not json", 0, "answered no ConfigCheck: not json"},
           Case{R"({"valid":"yes"})", 0, "answered no ConfigCheck"},
           Case{"{}", 0, "exited 0 but answered valid=false"},
           Case{R"({"other":1})", 78, "answered valid=false without a reason"},
           Case{R"({"valid":true})", 78, "exited 78 but answered valid=true"},
           Case{R"({"valid":true})", 3, "failed (exit 3)"},
       }) {
    SCOPED_TRACE(c.json);
    auto answer = askWorker(worker(c.json, c.code), {}, /*json=*/true);
    ASSERT_FALSE(answer);
    EXPECT_THAT(answer.error().message, HasSubstr(c.said));
  }
}

}  // namespace
}  // namespace mvf::supervisor
