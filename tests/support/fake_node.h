#pragma once

#include <sys/types.h>

#include <string>

#include "base/unique_fd.h"

namespace mvf::testing {

// A throwaway node under /tmp: a host root to build device trees in, a kubelet plugin
// dir and a run dir. Short paths on purpose: a unix socket path must stay under 108
// bytes. Removed with everything in it on destruction.
class FakeNode {
 public:
  FakeNode();
  ~FakeNode();
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;

  const std::string& dir() const { return dir_; }
  std::string root() const { return dir_ + "/root"; }
  std::string kubeletDir() const { return dir_ + "/kd"; }
  std::string runDir() const { return dir_ + "/run"; }

  // Host path → where it lives in this node.
  std::string host(const std::string& hostPath) const { return root() + hostPath; }

  // Each creates parent dirs as needed and returns "" or an error text.
  std::string mkdirs(const std::string& hostPath) const;
  std::string charDevice(const std::string& hostPath, unsigned major = 1, unsigned minor = 3) const;
  std::string file(const std::string& hostPath, const std::string& content = "") const;
  std::string symlink(const std::string& hostPath, const std::string& target) const;
  std::string fifo(const std::string& hostPath) const;
  std::string remove(const std::string& hostPath) const;
  // A unix socket at the path: listening (kept while the returned fd lives), or stale —
  // bound and closed, so the file stays and connections are refused — when !listen.
  base::UniqueFd unixSocket(const std::string& hostPath, bool listen = true) const;

  // mknod needs CAP_MKNOD; tests that need device nodes skip without it.
  static bool canMknod();

 private:
  std::string dir_;
};

}  // namespace mvf::testing
