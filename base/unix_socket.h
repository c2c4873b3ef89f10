#pragma once

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace mvf::base {

// sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxUnixPath = 107;

// Connects to a unix socket without blocking (a non-blocking AF_UNIX connect() never
// returns EINPROGRESS: it answers at once): the connected, non-blocking, close-on-exec
// fd, or an Error whose code is the errno — ECONNREFUSED for a stale socket file nobody
// listens on, EAGAIN when the listener's backlog is full (it is alive, but there is no
// connection to keep), ENAMETOOLONG past kMaxUnixPath.
Result<UniqueFd> connectUnix(const std::string& path);

// Whether something listens on a unix socket: ok when it does (a full backlog included),
// else connectUnix()'s Error.
Status probeUnixSocket(const std::string& path);

// socket() + bind() + listen(), non-blocking and close-on-exec: the listening fd, or an
// Error "bind(/path): Address already in use" whose code is the errno.
Result<UniqueFd> listenUnix(const std::string& path);

}  // namespace mvf::base
