// How outside bytes are quoted in messages and log lines: bounded, escaped, never raw.
#include "base/quote.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "supervisor/event_pipe.h"
#include "tests/support/log_capture.h"
#include "workers/core/inventory.h"

namespace mvf::base {
namespace {

TEST(Quote, EscapesEveryByteThatIsNotPrintableAscii) {
  EXPECT_EQ(quote("udma-5"), "\"udma-5\"");
  EXPECT_EQ(quote(""), "\"\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote("\n\r\t"), "\"\\n\\r\\t\"");
  EXPECT_EQ(quote(std::string("\x00\x1b\x7f\xc3\xa9", 5)), "\"\\x00\\x1b\\x7f\\xc3\\xa9\"");
}

TEST(Quote, QuotesAtMostLimitBytesAndSaysHowLongTheInputWas) {
  EXPECT_EQ(quote("abcdef", 3), "\"abc...\" (6 bytes)");
  EXPECT_EQ(quote("abc", 3), "\"abc\"");
  std::string huge(1 << 20, '\x01');  // the worst case: every byte escaped
  std::string quoted = quote(huge);
  EXPECT_LE(quoted.size(), 4 * kQuoteLimit + 40);
  EXPECT_THAT(quoted, ::testing::EndsWith("...\" (1048576 bytes)"));
}

TEST(Quote, IfNeededLeavesAPlainWordAsItIs) {
  EXPECT_EQ(quote("0000:00:02.0", kQuoteLimit, Quotes::kIfNeeded), "0000:00:02.0");
  EXPECT_EQ(quote("vfio-pci", kQuoteLimit, Quotes::kIfNeeded), "vfio-pci");
  EXPECT_EQ(quote("a b", kQuoteLimit, Quotes::kIfNeeded), "\"a b\"");
  EXPECT_EQ(quote("", kQuoteLimit, Quotes::kIfNeeded), "\"\"");
  EXPECT_EQ(quote("abcd", 3, Quotes::kIfNeeded), "\"abc...\" (4 bytes)");
}

TEST(DescribeIds, ShowsAFewIdsPlainOrQuotedAndHowManyThereWere) {
  google::protobuf::RepeatedPtrField<std::string> ids;
  *ids.Add() = "udma-1";
  *ids.Add() = "udma-2";
  EXPECT_EQ(core::describeIds(ids), "udma-1,udma-2");
  *ids.Add() = "evil\nline";
  for (int i = 0; i < 10000; ++i) *ids.Add() = std::string(1000, 'x');
  std::string described = core::describeIds(ids);
  EXPECT_THAT(described, ::testing::StartsWith("udma-1,udma-2,\"evil\\nline\",\"xxx"));
  EXPECT_THAT(described, ::testing::EndsWith(",... (10003 IDs)"));
  EXPECT_LT(described.size(), 1000u);
}

// A line on a worker's notify pipe that is no event is logged quoted: a worker (or
// whatever it runs) cannot write raw control bytes into the supervisor's log.
TEST(EventPipeQuoting, ALineThatIsNoEventIsLoggedQuotedAndBounded) {
  int ends[2];
  ASSERT_EQ(::pipe2(ends, O_CLOEXEC | O_NONBLOCK), 0);
  base::UniqueFd readEnd(ends[0]), writeEnd(ends[1]);
  std::string junk = "\x1b[2J" + std::string(1000, 'j') + "\n";
  ASSERT_EQ(::write(writeEnd.get(), junk.data(), junk.size()), static_cast<ssize_t>(junk.size()));
  testing::LogCapture log("supervisor");
  supervisor::EventPipe pipe(std::move(readEnd), "vfio");
  EXPECT_TRUE(pipe.read().empty());
  EXPECT_THAT(log.text(), ::testing::HasSubstr("\"\\x1b[2Jjjj"));
  EXPECT_THAT(log.text(), ::testing::HasSubstr("(1004 bytes)"));
  EXPECT_EQ(log.text().find('\x1b'), std::string::npos);
}

}  // namespace
}  // namespace mvf::base
