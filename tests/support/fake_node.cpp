#include "tests/support/fake_node.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace mvf::testing {
namespace fs = std::filesystem;

namespace {
base::Error failed(const std::string& call, const std::string& path) {
  return base::Error{call + "(" + path + "): " + std::strerror(errno), errno};
}

// What charDevice() makes where mknod is not allowed: a regular file, sticky.
constexpr mode_t kStandIn = S_IFREG | S_ISVTX | 0600;
}  // namespace

FakeNode::FakeNode() {
  char pattern[] = "/tmp/mvfXXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error(failed("mkdtemp", pattern).message);
  dir_ = pattern;
  fs::create_directories(root());
}

FakeNode::~FakeNode() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

base::Status FakeNode::mkdirs(const std::string& hostPath) const {
  std::error_code ec;
  fs::create_directories(host(hostPath), ec);
  if (ec) return base::Error{"mkdir " + host(hostPath) + ": " + ec.message(), ec.value()};
  return base::ok();
}

base::Status FakeNode::charDevice(const std::string& hostPath, unsigned major,
                                  unsigned minor) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  if (::mknod(host(hostPath).c_str(), S_IFCHR | 0600, makedev(major, minor)) == 0) {
    return base::ok();
  }
  if (errno != EPERM) return failed("mknod", host(hostPath));
  if (::mknod(host(hostPath).c_str(), kStandIn, 0) != 0) return failed("mknod", host(hostPath));
  // mknod's mode went through the umask, which may have cleared bits: set them.
  if (::chmod(host(hostPath).c_str(), kStandIn & 07777) != 0) {
    return failed("chmod", host(hostPath));
  }
  return base::ok();
}

base::Status FakeNode::file(const std::string& hostPath, const std::string& content) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  std::ofstream out(host(hostPath));
  out << content;
  if (!out) return base::Error{"cannot write " + host(hostPath)};
  return base::ok();
}

base::Status FakeNode::symlink(const std::string& hostPath, const std::string& target) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  if (::symlink(target.c_str(), host(hostPath).c_str()) != 0) {
    return failed("symlink", host(hostPath));
  }
  return base::ok();
}

base::Status FakeNode::fifo(const std::string& hostPath) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  if (::mkfifo(host(hostPath).c_str(), 0600) != 0) return failed("mkfifo", host(hostPath));
  return base::ok();
}

base::Status FakeNode::remove(const std::string& hostPath) const {
  std::error_code ec;
  fs::remove_all(host(hostPath), ec);
  if (ec) return base::Error{"remove " + host(hostPath) + ": " + ec.message(), ec.value()};
  return base::ok();
}

base::Status FakeNode::notADirectory(const std::string& hostPath) const {
  auto removed = remove(hostPath);
  return removed ? file(hostPath) : removed;
}

base::UniqueFd FakeNode::unixSocket(const std::string& hostPath, bool listen) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  base::UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::string path = host(hostPath);
  if (path.size() >= sizeof(addr.sun_path))
    throw std::runtime_error("socket path too long: " + path);
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    throw std::runtime_error(failed("bind", path).message);
  }
  if (!listen) return {};
  if (::listen(fd.get(), 16) != 0) throw std::runtime_error(failed("listen", path).message);
  return fd;
}

bool FakeNode::canMknod() {
  static const bool can = [] {
    FakeNode probe;
    return ::mknod(probe.host("/probe").c_str(), S_IFCHR | 0600, makedev(1, 3)) == 0;
  }();
  return can;
}

core::HostFs hostFsOf(const FakeNode& node) {
  return core::HostFs(node.root(), [](const struct stat& st) {
    if ((st.st_mode & (S_IFMT | S_ISVTX)) == (S_IFREG | S_ISVTX)) {
      return core::FileType::kCharDevice;
    }
    return core::fileTypeOf(st.st_mode);
  });
}

}  // namespace mvf::testing
