#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

namespace mvf::base {
namespace {

Error failed(const char* call, const std::string& path, int errnum) {
  return Error{std::string(call) + "(" + path + "): " + std::strerror(errnum), errnum};
}

Result<sockaddr_un> address(const char* call, const std::string& path) {
  if (path.size() > kMaxUnixPath) return failed(call, path, ENAMETOOLONG);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  return addr;
}

}  // namespace

Result<UniqueFd> connectUnix(const std::string& path) {
  auto addr = address("connect", path);
  if (!addr) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return failed("socket", path, errno);
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr.value()), sizeof(sockaddr_un)) !=
      0) {
    return failed("connect", path, errno);
  }
  return fd;
}

Status probeUnixSocket(const std::string& path) {
  auto connected = connectUnix(path);
  if (connected || connected.error().code == EAGAIN) return ok();
  return connected.error();
}

Result<UniqueFd> listenUnix(const std::string& path) {
  auto addr = address("bind", path);
  if (!addr) return addr.error();
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return failed("socket", path, errno);
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr.value()), sizeof(sockaddr_un)) !=
      0) {
    return failed("bind", path, errno);
  }
  if (::listen(fd.get(), SOMAXCONN) != 0) return failed("listen", path, errno);
  return fd;
}

}  // namespace mvf::base
