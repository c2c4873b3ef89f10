#pragma once

#include <boost/outcome/basic_result.hpp>
#include <boost/outcome/policy/terminate.hpp>
#include <string>

namespace mvf::base {

// Why something failed: a sentence for a log line, an exit message or an error reply
// ("bind(/run/x.sock): Address already in use"), and the errno behind it when there is
// one (0 when not), for callers that act on the kind of failure.
struct Error {
  std::string message;
  int code = 0;
};

// The one way this code reports a failure: a value of T, or an Error — Boost.Outcome's
// result, the shape of C++23's std::expected. Reading the value of an error (or the
// error of a value) is a programming error and terminates. `return Error{"…"}` fails,
// `return value` succeeds; for Status, `return base::ok()`.
template <class T>
using Result = boost::outcome_v2::basic_result<T, Error, boost::outcome_v2::policy::terminate>;

// Success or an Error, for what has no value to return.
using Status = Result<void>;

inline auto ok() { return boost::outcome_v2::success(); }

}  // namespace mvf::base
