#pragma once

#include <gtest/gtest.h>

#include "base/result.h"

// Asserts (or expects) that a base::Status or base::Result succeeded, printing its error
// when it did not.
#define ASSERT_OK(expression)                                              \
  do {                                                                     \
    const auto& mvf_checked_result = (expression);                         \
    ASSERT_TRUE(mvf_checked_result) << mvf_checked_result.error().message; \
  } while (false)
#define EXPECT_OK(expression)                                              \
  do {                                                                     \
    const auto& mvf_checked_result = (expression);                         \
    EXPECT_TRUE(mvf_checked_result) << mvf_checked_result.error().message; \
  } while (false)
