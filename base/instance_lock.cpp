#include "base/instance_lock.h"

#include <fcntl.h>
#include <sys/file.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

namespace mvf::base {

std::string InstanceLock::acquire(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path).parent_path(), ec);
  if (ec)
    return "mkdir(" + std::filesystem::path(path).parent_path().string() + "): " + ec.message();
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) return "open(" + path + "): " + std::strerror(errno);
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) return path + " is held by another running instance";
    return "flock(" + path + "): " + std::strerror(errno);
  }
  fd_ = std::move(fd);
  return "";
}

}  // namespace mvf::base
