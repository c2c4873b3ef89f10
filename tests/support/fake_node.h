#pragma once

#include <sys/types.h>

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "workers/core/host_fs.h"

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

  // Each creates parent dirs as needed.
  base::Status mkdirs(const std::string& hostPath) const;
  // A character device: a real one where the process may mknod (root); elsewhere a
  // stand-in, a regular file with the sticky bit, which hostFsOf() reads as one.
  base::Status charDevice(const std::string& hostPath, unsigned major = 1,
                          unsigned minor = 3) const;
  base::Status file(const std::string& hostPath, const std::string& content = "") const;
  base::Status symlink(const std::string& hostPath, const std::string& target) const;
  base::Status fifo(const std::string& hostPath) const;
  base::Status remove(const std::string& hostPath) const;
  // Replaces whatever is at the path with an empty regular file: a dir no scan can list,
  // even as root, who ignores mode bits (ENOTDIR, for it and every path below it).
  base::Status notADirectory(const std::string& hostPath) const;
  // A unix socket at the path: listening (kept while the returned fd lives), or stale —
  // bound and closed, so the file stays and connections are refused — when !listen.
  base::UniqueFd unixSocket(const std::string& hostPath, bool listen = true) const;

  // mknod needs CAP_MKNOD. Tests that run real worker binaries need real device nodes
  // and skip without it; scanner tests use hostFsOf() and run anywhere.
  static bool canMknod();

 private:
  std::string dir_;
};

// The node's host root as a worker reads it, with charDevice()'s stand-ins read as the
// character devices they stand for: scanner tests run without CAP_MKNOD.
core::HostFs hostFsOf(const FakeNode& node);

}  // namespace mvf::testing
