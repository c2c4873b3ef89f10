#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace mvf::base {
namespace {

bool fill(sockaddr_un* addr, const std::string& path) {
  if (path.size() > kMaxUnixPath) return false;
  *addr = {};
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.c_str(), path.size() + 1);
  return true;
}

}  // namespace

UniqueFd connectUnix(const std::string& path, int* error) {
  sockaddr_un addr;
  if (!fill(&addr, path)) {
    *error = ENAMETOOLONG;
    return UniqueFd();
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd && ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) == 0) {
    *error = 0;
    return fd;
  }
  *error = errno;
  return UniqueFd();
}

int probeUnixSocket(const std::string& path) {
  int error = 0;
  connectUnix(path, &error);
  return error == EAGAIN ? 0 : error;
}

UniqueFd listenUnix(const std::string& path, std::string* error, int* errnum) {
  auto fail = [&](const char* call) {
    *errnum = errno;
    *error = std::string(call) + "(" + path + "): " + std::strerror(errno);
    return UniqueFd();
  };
  sockaddr_un addr;
  if (!fill(&addr, path)) {
    errno = ENAMETOOLONG;
    return fail("bind");
  }
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fail("socket");
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof(addr)) != 0) {
    return fail("bind");
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) return fail("listen");
  return fd;
}

}  // namespace mvf::base
