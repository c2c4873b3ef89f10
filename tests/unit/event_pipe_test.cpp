#include "supervisor/event_pipe.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>

namespace mvf::supervisor {
namespace {

using Event = v1::WorkerEvent;

class EventPipeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
    pipe_.emplace(base::UniqueFd(fds[0]), "udma");
    writeEnd_ = base::UniqueFd(fds[1]);
  }

  void write(const std::string& text) {
    ASSERT_EQ(::write(writeEnd_.get(), text.data(), text.size()),
              static_cast<ssize_t>(text.size()));
  }

  std::optional<EventPipe> pipe_;
  base::UniqueFd writeEnd_;
};

TEST_F(EventPipeTest, EveryLineIsItsOwnEventAndJunkIsSkipped) {
  const std::string heartbeat = R"({"event":"heartbeat","worker":"udma"})";
  write(heartbeat + "\n" + heartbeat + "\n" +
        R"({"event":"devices","worker":"udma","total":1000,"healthy":999})" + "\n" + heartbeat +
        "\nnot an event\nnot an event\n");
  auto events = pipe_->read();
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[0].event(), Event::heartbeat);
  EXPECT_EQ(events[1].event(), Event::heartbeat);
  EXPECT_EQ(events[2].event(), Event::devices);
  EXPECT_EQ(events[2].healthy(), 999u);
  EXPECT_EQ(events[3].event(), Event::heartbeat);
  EXPECT_EQ(events[3].healthy(), 0u);  // nothing of the devices event carried over

  write(R"({"event":"devices","worker":"udma","total":1000,"healthy":998})"
        "\n");
  events = pipe_->read();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].healthy(), 998u);
}

}  // namespace
}  // namespace mvf::supervisor
