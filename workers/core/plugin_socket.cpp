#include "workers/core/plugin_socket.h"

#include <grpcpp/server_posix.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/logging.h"
#include "base/unix_socket.h"

namespace mvf::core {

PluginSocket::PluginSocket(std::string path, grpc::Server& server)
    : path_(std::move(path)), server_(server) {}

PluginSocket::~PluginSocket() { close(); }

base::Status PluginSocket::listen() {
  close();
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto bound = base::listenUnix(path_);
    if (bound) {
      fd_ = std::move(bound).value();
      break;
    }
    int code = bound.error().code;
    if (code != EADDRINUSE || attempt > 0) return bound.error();

    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0) continue;  // gone meanwhile: bind again
    if (S_ISDIR(st.st_mode)) return base::Error{path_ + " is a directory", EISDIR};
    if (S_ISSOCK(st.st_mode)) {
      auto probe = base::probeUnixSocket(path_);
      if (probe) return base::Error{path_ + " is served by another process", EADDRINUSE};
      if (probe.error().code != ECONNREFUSED) return probe.error();
    }
    // A socket nobody listens on, or a plain file or symlink where our socket belongs:
    // junk the kubelet itself would delete on its next start.
    base::logger("socket")->info("removing stale {} ({})", path_,
                                 S_ISSOCK(st.st_mode) ? "nobody answers on it" : "not a socket");
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      return base::Error{"unlink(" + path_ + "): " + std::strerror(errno), errno};
    }
  }
  // Only the kubelet (root) needs it. The umask made it 0700 already; 0600 says what is
  // meant, and a failure leaves it at that.
  if (::chmod(path_.c_str(), 0600) != 0) {
    base::logger("socket")->warn("chmod({}, 0600): {}", path_, std::strerror(errno));
  }
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  return base::ok();
}

void PluginSocket::acceptPending() {
  while (fd_) {
    int conn = ::accept4(fd_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN)
        base::logger("socket")->warn("accept({}): {}", path_, std::strerror(errno));
      return;
    }
    grpc::AddInsecureChannelFromFd(&server_, conn);  // takes ownership of conn
  }
}

bool PluginSocket::ownsPath() const {
  struct stat st {};
  return fd_ && ::lstat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
}

void PluginSocket::close() {
  if (!fd_) return;
  if (ownsPath()) ::unlink(path_.c_str());
  fd_.reset();
}

}  // namespace mvf::core
