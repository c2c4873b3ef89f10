// What a ListAndWatch stream writes, and when, for every order in which lists are offered,
// writes complete and the stream is ended.
#include <gtest/gtest.h>

#include <string>

#include "workers/core/plugin_service.h"

namespace mvf::core {
namespace {

using ListPtr = StreamSchedule::ListPtr;

ListPtr listOf(const std::string& id) {
  v1beta1::ListAndWatchResponse list;
  list.add_devices()->set_id(id);
  return std::make_shared<WireList>(WireList{.bytes = list.SerializeAsString(), .total = 1});
}

TEST(StreamScheduleTest, WritesTheFirstListAtOnce) {
  StreamSchedule schedule;
  auto first = listOf("a");
  EXPECT_EQ(schedule.offer(first, 1), first);
}

TEST(StreamScheduleTest, KeepsOneWriteInFlightAndThenWritesOnlyTheNewest) {
  StreamSchedule schedule;
  auto first = listOf("a");
  auto third = listOf("c");
  ASSERT_EQ(schedule.offer(first, 1), first);
  EXPECT_EQ(schedule.offer(listOf("b"), 2), nullptr);
  EXPECT_EQ(schedule.offer(third, 3), nullptr);
  EXPECT_EQ(schedule.writeDone(true).write, third);
  StreamSchedule::Next idle = schedule.writeDone(true);
  EXPECT_EQ(idle.write, nullptr);
  EXPECT_FALSE(idle.finish);
}

// The race a stream opening meets: a publish hands it list 2 before the opening's own
// offer of list 1, the newest list when it looked, arrives. The kubelet keeps the last list
// it receives, so list 1 must never follow list 2.
TEST(StreamScheduleTest, NeverWritesAnOlderListAfterANewerOne) {
  StreamSchedule schedule;
  auto newer = listOf("b");
  ASSERT_EQ(schedule.offer(newer, 2), newer);
  EXPECT_EQ(schedule.offer(listOf("a"), 1), nullptr);
  EXPECT_EQ(schedule.writeDone(true).write, nullptr);
}

TEST(StreamScheduleTest, AStaleOfferWhileIdleWritesNothing) {
  StreamSchedule schedule;
  ASSERT_NE(schedule.offer(listOf("b"), 2), nullptr);
  ASSERT_EQ(schedule.writeDone(true).write, nullptr);
  EXPECT_EQ(schedule.offer(listOf("a"), 1), nullptr);
}

TEST(StreamScheduleTest, EndingWhileIdleFinishesAtOnceWithTheStatus) {
  StreamSchedule schedule;
  ASSERT_NE(schedule.offer(listOf("a"), 1), nullptr);
  ASSERT_EQ(schedule.writeDone(true).write, nullptr);
  EXPECT_TRUE(schedule.end(grpc::Status::OK, false));
  EXPECT_TRUE(schedule.status().ok());
  EXPECT_FALSE(schedule.endedByPeer());
  EXPECT_EQ(schedule.offer(listOf("b"), 2), nullptr);
}

TEST(StreamScheduleTest, EndingDuringAWriteFinishesWhenTheWriteIsDone) {
  StreamSchedule schedule;
  ASSERT_NE(schedule.offer(listOf("a"), 1), nullptr);
  EXPECT_FALSE(schedule.end(grpc::Status::OK, false));
  EXPECT_EQ(schedule.offer(listOf("b"), 2), nullptr);
  StreamSchedule::Next next = schedule.writeDone(true);
  EXPECT_EQ(next.write, nullptr);
  EXPECT_TRUE(next.finish);
}

TEST(StreamScheduleTest, OnlyTheFirstEndCounts) {
  StreamSchedule schedule;
  ASSERT_TRUE(schedule.end(grpc::Status::OK, false));
  EXPECT_FALSE(schedule.end(grpc::Status::CANCELLED, true));
  EXPECT_TRUE(schedule.status().ok());
  EXPECT_FALSE(schedule.endedByPeer());
}

TEST(StreamScheduleTest, AFailedWriteIsThePeerLeavingAndFinishesCancelled) {
  StreamSchedule schedule;
  ASSERT_NE(schedule.offer(listOf("a"), 1), nullptr);
  EXPECT_EQ(schedule.offer(listOf("b"), 2), nullptr);
  StreamSchedule::Next next = schedule.writeDone(false);
  EXPECT_EQ(next.write, nullptr);
  EXPECT_TRUE(next.finish);
  EXPECT_EQ(schedule.status().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(schedule.endedByPeer());
}

}  // namespace
}  // namespace mvf::core
