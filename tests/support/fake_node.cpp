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
std::string failed(const std::string& call, const std::string& path) {
  return call + "(" + path + "): " + std::strerror(errno);
}
}  // namespace

FakeNode::FakeNode() {
  char pattern[] = "/tmp/mvfXXXXXX";
  if (::mkdtemp(pattern) == nullptr) throw std::runtime_error(failed("mkdtemp", pattern));
  dir_ = pattern;
  fs::create_directories(root());
}

FakeNode::~FakeNode() {
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string FakeNode::mkdirs(const std::string& hostPath) const {
  std::error_code ec;
  fs::create_directories(host(hostPath), ec);
  return ec ? "mkdir " + host(hostPath) + ": " + ec.message() : "";
}

std::string FakeNode::charDevice(const std::string& hostPath, unsigned major,
                                 unsigned minor) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  if (::mknod(host(hostPath).c_str(), S_IFCHR | 0600, makedev(major, minor)) != 0) {
    return failed("mknod", host(hostPath));
  }
  return "";
}

std::string FakeNode::file(const std::string& hostPath, const std::string& content) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  std::ofstream out(host(hostPath));
  out << content;
  return out ? "" : "cannot write " + host(hostPath);
}

std::string FakeNode::symlink(const std::string& hostPath, const std::string& target) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  if (::symlink(target.c_str(), host(hostPath).c_str()) != 0) {
    return failed("symlink", host(hostPath));
  }
  return "";
}

std::string FakeNode::fifo(const std::string& hostPath) const {
  fs::create_directories(fs::path(host(hostPath)).parent_path());
  if (::mkfifo(host(hostPath).c_str(), 0600) != 0) return failed("mkfifo", host(hostPath));
  return "";
}

std::string FakeNode::remove(const std::string& hostPath) const {
  std::error_code ec;
  fs::remove_all(host(hostPath), ec);
  return ec ? "remove " + host(hostPath) + ": " + ec.message() : "";
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
    throw std::runtime_error(failed("bind", path));
  }
  if (!listen) return {};
  if (::listen(fd.get(), 16) != 0) throw std::runtime_error(failed("listen", path));
  return fd;
}

bool FakeNode::canMknod() {
  static const bool can = [] {
    FakeNode probe;
    return probe.charDevice("/probe").empty();
  }();
  return can;
}

}  // namespace mvf::testing
