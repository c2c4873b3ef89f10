#pragma once

#include <string>

#include "base/unique_fd.h"

namespace mvf::base {

// sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxUnixPath = 107;

// Connects to a unix socket without blocking (a non-blocking AF_UNIX connect() never
// returns EINPROGRESS: it answers at once). Returns the connected, non-blocking,
// close-on-exec fd, or an invalid one with *error set to the errno: ECONNREFUSED for a
// stale socket file nobody listens on, EAGAIN when the listener's backlog is full (it
// is alive, but there is no connection to keep).
UniqueFd connectUnix(const std::string& path, int* error);

// Tries to connect to a unix socket without blocking: 0 when something listens (a full
// backlog included), otherwise the errno of connectUnix().
int probeUnixSocket(const std::string& path);

// socket() + bind() + listen(), non-blocking and close-on-exec. On failure returns an
// invalid fd and sets *error to "bind(/path): Address already in use" style text and
// *errnum to the errno.
UniqueFd listenUnix(const std::string& path, std::string* error, int* errnum);

}  // namespace mvf::base
