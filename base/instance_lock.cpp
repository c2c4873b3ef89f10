#include "base/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mvf::base {

Status InstanceLock::acquire(const std::string& path) {
  std::error_code ec;
  auto dir = std::filesystem::path(path).parent_path();
  std::filesystem::create_directories(dir, ec);
  if (ec) return Error{"mkdir(" + dir.string() + "): " + ec.message(), ec.value()};
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return Error{"open(" + path + "): " + std::strerror(errno), errno};
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return Error{path + " is held by another running instance", errno};
    return Error{"flock(" + path + "): " + std::strerror(errno), errno};
  }
  fd_ = std::move(fd);
  return ok();
}

}  // namespace mvf::base
