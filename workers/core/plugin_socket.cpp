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

PluginSocket::Outcome PluginSocket::listen(std::string* detail) {
  close();
  for (int attempt = 0; attempt < 2; ++attempt) {
    int errnum = 0;
    fd_ = base::listenUnix(path_, detail, &errnum);
    if (fd_) break;
    if (errnum == ENOENT) return Outcome::kNoDir;
    if (errnum != EADDRINUSE || attempt > 0) return Outcome::kFailed;

    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0) continue;  // gone meanwhile: bind again
    if (S_ISDIR(st.st_mode)) {
      *detail = path_ + " is a directory";
      return Outcome::kFailed;
    }
    if (S_ISSOCK(st.st_mode)) {
      int probe = base::probeUnixSocket(path_);
      if (probe == 0) {
        *detail = path_ + " is served by another process";
        return Outcome::kBusy;
      }
      if (probe != ECONNREFUSED) {
        *detail = "connect(" + path_ + "): " + std::strerror(probe);
        return Outcome::kFailed;
      }
    }
    // A socket nobody listens on, or a plain file or symlink where our socket belongs:
    // junk the kubelet itself would delete on its next start.
    base::logger("socket")->info("removing stale {} ({})", path_,
                                 S_ISSOCK(st.st_mode) ? "nobody answers on it" : "not a socket");
    if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
      *detail = "unlink(" + path_ + "): " + std::strerror(errno);
      return Outcome::kFailed;
    }
  }
  // Only the kubelet (root) needs it; the umask already made it 0600, this says so.
  ::chmod(path_.c_str(), 0600);
  struct stat st {};
  if (::lstat(path_.c_str(), &st) == 0) {
    dev_ = st.st_dev;
    ino_ = st.st_ino;
  }
  return Outcome::kListening;
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
