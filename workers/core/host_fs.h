#pragma once

#include <sys/stat.h>

#include <optional>
#include <string>
#include <string_view>

namespace mvf::core {

enum class FileType {
  kMissing,
  kCharDevice,
  kBlockDevice,
  kDirectory,
  kRegular,
  kSymlink,
  kSocket,
  kFifo,
  kUnreadable
};

// "a character device", "a symlink"... for log lines and error messages.
std::string_view describe(FileType type);

struct FileInfo {
  FileType type = FileType::kMissing;
  struct stat st {};
  int error = 0;  // errno when type is kUnreadable
};

// The host's filesystem as seen under --host-root. Every host path a worker reads goes
// through here, so tests point the root at a temp dir, and a symlink in the host tree is
// resolved as the host would resolve it: an absolute target starts again at the host
// root and ".." never climbs above it. Paths given and returned are host paths
// ("/dev/udmabuf"), never prefixed with the root.
class HostFs {
 public:
  explicit HostFs(std::string root);

  const std::string& root() const { return root_; }

  // Where a host path lives on our own filesystem: the root joined with the path,
  // symlinks not resolved. For diagnostics and for watching dirs.
  std::string local(std::string_view hostPath) const;

  // The host path with every symlink resolved inside the host root (the last component
  // too when followLast). Missing components are kept as written. nullopt on a symlink
  // loop or more than 40 links.
  std::optional<std::string> resolve(std::string_view hostPath, bool followLast) const;

  // lstat() of the path's last component after resolving its parents.
  FileInfo lstat(std::string_view hostPath) const;

 private:
  std::string root_;  // no trailing slash; "" for "/"
};

}  // namespace mvf::core
