#include "base/unix_socket.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/logging.h"

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

ListeningSocket::ListeningSocket(std::string path, std::function<void(int)> take,
                                 NonSocket nonSocket)
    : path_(std::move(path)), take_(std::move(take)), nonSocket_(nonSocket) {}

ListeningSocket::~ListeningSocket() { close(); }

Status ListeningSocket::listen() {
  close();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto bound = listenUnix(path_);
    if (bound) {
      fd_ = std::move(bound).value();
      break;
    }
    int code = bound.error().code;
    if (code != EADDRINUSE || attempt > 0) return bound.error();

    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0) continue;  // gone meanwhile: bind again
    if (S_ISDIR(st.st_mode)) return Error{path_ + " is a directory", EISDIR};
    if (S_ISSOCK(st.st_mode)) {
      auto probe = probeUnixSocket(path_);
      if (probe) return Error{path_ + " is served by another process", EADDRINUSE};
      if (probe.error().code != ECONNREFUSED) return probe.error();
    } else if (nonSocket_ == NonSocket::kRefuse) {
      return Error{path_ + " exists and is not a socket; not removing it", EEXIST};
    }
    // A socket nobody listens on, or (NonSocket::kRemove) a plain file or symlink where
    // our socket belongs: junk, which the kubelet too deletes from its plugin dir.
    logger("socket")->info("removing stale {} ({})", path_,
                           S_ISSOCK(st.st_mode) ? "nobody answers on it" : "not a socket");
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return Error{"unlink(" + path_ + "): " + std::strerror(errno), errno};
    }
  }
  // Only root's clients need it (the kubelet; mvfctl in the pod). The umask made it 0700
  // already; 0600 says what is meant, and a failure leaves it at that.
  if (::chmod(path_.c_str(), 0600) != 0) {
    logger("socket")->warn("chmod({}, 0600): {}", path_, std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  return ok();
}

void ListeningSocket::acceptPending() {
  while (fd_) {
    int conn = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN) logger("socket")->warn("accept({}): {}", path_, std::strerror(errno));
      return;
    }
    take_(conn);
  }
}

bool ListeningSocket::ownsPath() const {
  struct stat st {};
  return fd_ && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
}

void ListeningSocket::close() {
  if (!fd_) return;
  if (ownsPath()) ::unlink(path_.c_str());
  fd_.reset();
}

}  // namespace mvf::base
