#pragma once

#include <string>

#include "workers/core/unique_fd.h"

namespace mvf::core {

// sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxUnixPath = 107;

// Tries to connect to a unix socket without blocking: 0 when something accepts,
// otherwise the errno (ECONNREFUSED for a stale socket file nobody listens on). A
// non-blocking AF_UNIX connect() never returns EINPROGRESS: it answers at once.
int probeUnixSocket(const std::string& path);

// socket() + bind() + listen(), non-blocking and close-on-exec. On failure returns an
// invalid fd and sets *error to "bind(/path): Address already in use" style text and
// *errnum to the errno.
UniqueFd listenUnix(const std::string& path, std::string* error, int* errnum);

}  // namespace mvf::core
