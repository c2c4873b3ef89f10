#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

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

// The type a file's mode says.
FileType fileTypeOf(mode_t mode);

// How a HostFs reads a file's type from its stat: fileTypeOf(st.st_mode) unless a test
// gives another (tests/support/fake_node.h reads a stand-in file as a character device,
// so scanner tests run without CAP_MKNOD).
using Classify = std::function<FileType(const struct stat&)>;

// A number from a sysfs attribute: decimal, or hex with or without "0x" for base 16.
// nullopt for junk, an empty text or a value that does not fit.
std::optional<int64_t> parseNumber(std::string_view text, int base = 10);

// An open directory of the host, for reading many entries of one sysfs device without
// resolving its path again for each (a scan of 500 USB devices reads thousands).
class HostDir {
 public:
  explicit HostDir(base::UniqueFd fd, Classify classify = nullptr)
      : fd_(std::move(fd)), classify_(std::move(classify)) {}

  // A sysfs attribute: the content of the regular file `name`, trimmed, at most 4 KiB.
  // nullopt when it is missing, not a regular file, or unreadable. Never blocks: a fifo
  // planted where an attribute belongs is refused, not opened for reading.
  std::optional<std::string> read(const std::string& name) const;

  // The same attribute, or why it cannot be read: an Error "<name>: <strerror>" whose
  // code is the errno (ENOENT: missing; EISDIR or EINVAL: not a regular file).
  base::Result<std::string> attribute(const std::string& name) const;

  // The last component of symlink `name`'s target ("vfio-pci" for driver ->
  // ../../../bus/pci/drivers/vfio-pci); nullopt when `name` is not a symlink.
  std::optional<std::string> linkName(const std::string& name) const;

  bool exists(const std::string& name) const;

  // The entry names, sorted.
  std::vector<std::string> list() const;

  // The entries and their types (not following symlinks), from one readdir: cheaper than
  // an lstat per entry when a scan looks at many device nodes.
  std::map<std::string, FileType> types() const;

  int fd() const { return fd_.get(); }

 private:
  base::UniqueFd fd_;
  Classify classify_;
};

// A PCI device's NUMA node from its numa_node attribute; nullopt for -1 (none) or junk.
std::optional<int64_t> numaNodeOf(const HostDir& device);

// The host's filesystem as seen under --host-root. Every host path a worker reads goes
// through here, so tests point the root at a temp dir, and a symlink in the host tree is
// resolved as the host would resolve it: an absolute target starts again at the host
// root and ".." never climbs above it. Paths given and returned are host paths
// ("/dev/udmabuf"), never prefixed with the root.
class HostFs {
 public:
  explicit HostFs(std::string root, Classify classify = nullptr);

  const std::string& root() const { return root_; }

  // Where a host path lives on our own filesystem: the root joined with the path,
  // symlinks not resolved. For diagnostics and for watching dirs.
  std::string local(std::string_view hostPath) const;

  // The host path with every symlink resolved inside the host root (the last component
  // too when followLast). Missing components are kept as written. nullopt on a symlink
  // loop or more than 40 links.
  std::optional<std::string> resolve(std::string_view hostPath, bool followLast) const;

  // The type of the path's last component (not followed) after resolving its parents.
  FileType lstat(std::string_view hostPath) const;

  // The same, or why the type cannot be read: kMissing only when the path does not exist
  // (ENOENT); any other failure, a component of the path that is no directory included
  // (ENOTDIR), is an Error "cannot read <path>: <strerror>" whose code is the errno.
  base::Result<FileType> typeOf(std::string_view hostPath) const;

  // Owner and permission bits of the path's last component (not followed), as a CDI
  // spec states them; nullopt when it cannot be read.
  struct Owner {
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t mode = 0;  // the permission bits, st_mode & 0777
  };
  std::optional<Owner> owner(std::string_view hostPath) const;

  // The directory at the path, every symlink resolved inside the host root.
  std::optional<HostDir> openDir(std::string_view hostPath) const;

  // The names in a directory, sorted; empty when it is missing or unreadable.
  std::vector<std::string> list(std::string_view hostPath) const;

  // The names in a directory, sorted; or, when it cannot be read, an Error
  // "cannot read <path>: <strerror>" whose code is the errno (ENOENT: missing; ENOTDIR:
  // not a directory; ELOOP: a symlink loop), so a scan tells "nothing there" from
  // "could not look".
  base::Result<std::vector<std::string>> entries(std::string_view hostPath) const;

  // The directory at the path, or the Error entries() would give.
  base::Result<HostDir> dir(std::string_view hostPath) const;

  // connect()s to a unix socket of the host without blocking, as base::connectUnix()
  // does: the connection, or an Error naming the host path whose code is the errno
  // (ENOTSOCK: the path is no socket, a symlink included — never followed). The path
  // goes through /proc/self/fd, so a deep host root never makes it too long for sun_path.
  base::Result<base::UniqueFd> connectSocket(std::string_view hostPath) const;

  // Whether something listens on a unix socket of the host: ok when it does (a full
  // backlog included), else connectSocket()'s Error (ECONNREFUSED: a stale socket).
  base::Status probeSocket(std::string_view hostPath) const;

 private:
  // Opens a host path with every symlink resolved inside the root: in the kernel by
  // openat2(RESOLVE_IN_ROOT) where it has it (Linux 5.6), else by resolve().
  base::UniqueFd open(std::string_view hostPath, int flags) const;

  std::string root_;                              // no trailing slash; "" for "/"
  Classify classify_;                             // null: fileTypeOf
  std::shared_ptr<const base::UniqueFd> rootFd_;  // O_PATH; shared by copies
};

}  // namespace mvf::core
