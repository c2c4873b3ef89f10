#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

namespace mvf::base {

// Which file a path names now: (device, inode, inode change time). A file replaced under
// the same name (a new kubelet.sock) has another, even where the filesystem hands the
// freed inode number to the new file at once; the change time tells them apart unless
// both came within one timestamp tick.
struct FileId {
  dev_t dev = 0;
  ino_t ino = 0;
  int64_t changedNs = 0;
  bool operator==(const FileId&) const = default;
};

inline FileId fileIdOf(const struct stat& st) {
  return {st.st_dev, st.st_ino, st.st_ctim.tv_sec * 1'000'000'000 + st.st_ctim.tv_nsec};
}

// lstat(2) of `path`: its FileId, or nullopt when there is no such file.
inline std::optional<FileId> fileIdOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
  return fileIdOf(st);
}

}  // namespace mvf::base
