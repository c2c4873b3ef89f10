#include "workers/core/host_fs.h"

#include <unistd.h>

#include <cerrno>
#include <climits>
#include <vector>

namespace mvf::core {
namespace {

// The kernel's own limit on symlinks in one lookup (MAXSYMLINKS).
constexpr int kMaxLinks = 40;

void pushComponents(std::string_view path, std::vector<std::string>& stack) {
  // Pushed in reverse, so the first component is popped first.
  size_t end = path.size();
  while (end > 0) {
    size_t slash = path.rfind('/', end - 1);
    size_t start = slash == std::string_view::npos ? 0 : slash + 1;
    if (end > start) stack.emplace_back(path.substr(start, end - start));
    if (slash == std::string_view::npos) break;
    end = slash;
  }
}

std::string joinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

}  // namespace

std::string_view describe(FileType type) {
  switch (type) {
    case FileType::kMissing:
      return "missing";
    case FileType::kCharDevice:
      return "a character device";
    case FileType::kBlockDevice:
      return "a block device";
    case FileType::kDirectory:
      return "a directory";
    case FileType::kRegular:
      return "a regular file";
    case FileType::kSymlink:
      return "a symlink";
    case FileType::kSocket:
      return "a socket";
    case FileType::kFifo:
      return "a fifo";
    case FileType::kUnreadable:
      return "unreadable";
  }
  return "unknown";
}

HostFs::HostFs(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string HostFs::local(std::string_view hostPath) const {
  std::string path = root_;
  if (hostPath.empty() || hostPath.front() != '/') path += '/';
  path += hostPath;
  return path.empty() ? "/" : path;
}

std::optional<std::string> HostFs::resolve(std::string_view hostPath, bool followLast) const {
  std::vector<std::string> todo;
  pushComponents(hostPath, todo);
  std::vector<std::string> done;
  int links = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.back());
    todo.pop_back();
    if (part == ".") continue;
    if (part == "..") {
      if (!done.empty()) done.pop_back();  // never above the host root
      continue;
    }
    done.push_back(part);
    if (todo.empty() && !followLast) break;
    std::string here = local(joinPath(done));
    struct stat st {};
    if (::lstat(here.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) continue;
    if (++links > kMaxLinks) return std::nullopt;
    char target[PATH_MAX];
    ssize_t length = ::readlink(here.c_str(), target, sizeof(target));
    if (length <= 0 || static_cast<size_t>(length) >= sizeof(target)) return std::nullopt;
    done.pop_back();
    std::string_view link(target, static_cast<size_t>(length));
    if (link.front() == '/') done.clear();  // absolute: from the host root, not ours
    pushComponents(link, todo);
  }
  return joinPath(done);
}

FileInfo HostFs::lstat(std::string_view hostPath) const {
  FileInfo info;
  auto resolved = resolve(hostPath, /*followLast=*/false);
  if (!resolved) {
    info.type = FileType::kUnreadable;
    info.error = ELOOP;
    return info;
  }
  if (::lstat(local(*resolved).c_str(), &info.st) != 0) {
    info.error = errno;
    info.type = errno == ENOENT || errno == ENOTDIR ? FileType::kMissing : FileType::kUnreadable;
    return info;
  }
  mode_t mode = info.st.st_mode;
  if (S_ISCHR(mode)) {
    info.type = FileType::kCharDevice;
  } else if (S_ISBLK(mode)) {
    info.type = FileType::kBlockDevice;
  } else if (S_ISDIR(mode)) {
    info.type = FileType::kDirectory;
  } else if (S_ISREG(mode)) {
    info.type = FileType::kRegular;
  } else if (S_ISLNK(mode)) {
    info.type = FileType::kSymlink;
  } else if (S_ISSOCK(mode)) {
    info.type = FileType::kSocket;
  } else {
    info.type = FileType::kFifo;
  }
  return info;
}

}  // namespace mvf::core
