#include "workers/core/host_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <climits>
#include <cstring>
#include <vector>

#include "base/options.h"
#include "base/unix_socket.h"

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

// "cannot read /dev/vfio: Not a directory", with the errno as its code.
base::Error cannotRead(std::string_view hostPath, int code) {
  return base::Error{"cannot read " + std::string(hostPath) + ": " + std::strerror(code), code};
}

std::string joinPath(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& part : parts) out += "/" + part;
  return out.empty() ? "/" : out;
}

}  // namespace

FileType fileTypeOf(mode_t mode) {
  if (S_ISCHR(mode)) return FileType::kCharDevice;
  if (S_ISBLK(mode)) return FileType::kBlockDevice;
  if (S_ISDIR(mode)) return FileType::kDirectory;
  if (S_ISREG(mode)) return FileType::kRegular;
  if (S_ISLNK(mode)) return FileType::kSymlink;
  if (S_ISSOCK(mode)) return FileType::kSocket;
  return FileType::kFifo;
}

std::optional<int64_t> parseNumber(std::string_view text, int base) {
  if (base == 16 && text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
    text.remove_prefix(2);
  }
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value, base);
  if (text.empty() || ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

std::optional<int64_t> numaNodeOf(const HostDir& device) {
  auto node = parseNumber(device.read("numa_node").value_or(""));
  if (node && *node >= 0) return node;
  return std::nullopt;
}

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

HostFs::HostFs(std::string root, Classify classify)
    : root_(std::move(root)), classify_(std::move(classify)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
  rootFd_ = std::make_shared<const base::UniqueFd>(
      ::open(root_.empty() ? "/" : root_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
}

base::UniqueFd HostFs::open(std::string_view hostPath, int flags) const {
  size_t start = hostPath.find_first_not_of('/');
  std::string relative =
      start == std::string_view::npos ? "." : std::string(hostPath.substr(start));
  if (*rootFd_) {
    open_how how{};
    how.flags = static_cast<__u64>(static_cast<unsigned>(flags | O_CLOEXEC));
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    // EAGAIN: a rename or mount anywhere on the host raced with a ".." of this lookup (a
    // sysfs symlink has several), and the kernel could not rule out an escape; openat2(2)
    // says to try again. With renames in a loop elsewhere, one lookup in ten failed.
    constexpr int kAttempts = 16;
    for (int attempt = 0; attempt < kAttempts; ++attempt) {
      long fd = ::syscall(SYS_openat2, rootFd_->get(), relative.c_str(), &how, sizeof(how));
      if (fd >= 0) return base::UniqueFd(static_cast<int>(fd));
      if (errno != EAGAIN) break;
    }
    // ENOSYS: before Linux 5.6; EPERM: a seccomp profile that does not know openat2;
    // EAGAIN still: resolve in userspace, as below.
    if (errno != ENOSYS && errno != EPERM && errno != EAGAIN) return base::UniqueFd();
  }
  auto resolved = resolve(hostPath, /*followLast=*/(flags & O_NOFOLLOW) == 0);
  if (!resolved) {
    errno = ELOOP;
    return base::UniqueFd();
  }
  return base::UniqueFd(::open(local(*resolved).c_str(), flags | O_CLOEXEC));
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

FileType HostFs::lstat(std::string_view hostPath) const {
  base::UniqueFd fd = open(hostPath, O_PATH | O_NOFOLLOW);
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    return errno == ENOENT || errno == ENOTDIR ? FileType::kMissing : FileType::kUnreadable;
  }
  return classify_ ? classify_(st) : fileTypeOf(st.st_mode);
}

base::Result<FileType> HostFs::typeOf(std::string_view hostPath) const {
  base::UniqueFd fd = open(hostPath, O_PATH | O_NOFOLLOW);
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) {
    if (errno == ENOENT) return FileType::kMissing;
    return cannotRead(hostPath, errno);
  }
  return classify_ ? classify_(st) : fileTypeOf(st.st_mode);
}

std::optional<HostFs::Owner> HostFs::owner(std::string_view hostPath) const {
  base::UniqueFd fd = open(hostPath, O_PATH | O_NOFOLLOW);
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0) return std::nullopt;
  return Owner{st.st_uid, st.st_gid, st.st_mode & 0777};
}

std::optional<HostDir> HostFs::openDir(std::string_view hostPath) const {
  auto opened = dir(hostPath);
  if (!opened) return std::nullopt;
  return std::move(opened).value();
}

std::vector<std::string> HostFs::list(std::string_view hostPath) const {
  auto names = entries(hostPath);
  return names ? std::move(names).value() : std::vector<std::string>{};
}

base::Result<HostDir> HostFs::dir(std::string_view hostPath) const {
  base::UniqueFd fd = open(hostPath, O_RDONLY | O_DIRECTORY);
  if (!fd) return cannotRead(hostPath, errno);
  return HostDir(std::move(fd), classify_);
}

base::Result<std::vector<std::string>> HostFs::entries(std::string_view hostPath) const {
  auto opened = dir(hostPath);
  if (!opened) return opened.error();
  return opened.value().list();
}

base::Result<base::UniqueFd> HostFs::connectSocket(std::string_view hostPath) const {
  auto failed = [&](int code) {
    return base::Error{"connect(" + std::string(hostPath) + "): " + std::strerror(code), code};
  };
  // The socket's own inode, found inside the root without following a last symlink, and
  // connected to through its /proc/self/fd magic link: nothing is resolved again between
  // the check and the connect, so a symlink swapped in can never lead outside the root.
  base::UniqueFd socket = open(hostPath, O_PATH | O_NOFOLLOW);
  struct stat st {};
  if (!socket || ::fstat(socket.get(), &st) != 0) return failed(errno);
  if (!S_ISSOCK(st.st_mode)) {
    return base::Error{std::string(hostPath) + " is " +
                           std::string(describe(fileTypeOf(st.st_mode))) + ", not a socket",
                       ENOTSOCK};
  }
  auto connected = base::connectUnix("/proc/self/fd/" + std::to_string(socket.get()));
  if (!connected) return failed(connected.error().code);
  return connected;
}

base::Status HostFs::probeSocket(std::string_view hostPath) const {
  auto connected = connectSocket(hostPath);
  if (connected || connected.error().code == EAGAIN) return base::ok();
  return connected.error();
}

std::optional<std::string> HostDir::read(const std::string& name) const {
  auto value = attribute(name);
  if (!value) return std::nullopt;
  return std::move(value).value();
}

base::Result<std::string> HostDir::attribute(const std::string& name) const {
  auto failed = [&](const std::string& why, int code) {
    return base::Error{name + ": " + why, code};
  };
  base::UniqueFd file(
      ::openat(fd_.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st {};
  // O_NOFOLLOW refuses a symlink with ELOOP, which strerror would call a loop.
  if (!file && errno == ELOOP) return failed("a symlink, not a regular file", ELOOP);
  if (!file || ::fstat(file.get(), &st) != 0) return failed(std::strerror(errno), errno);
  if (!S_ISREG(st.st_mode)) {
    return failed(std::string(describe(fileTypeOf(st.st_mode))) + ", not a regular file",
                  S_ISDIR(st.st_mode) ? EISDIR : EINVAL);
  }
  char buffer[4096];
  ssize_t length = ::read(file.get(), buffer, sizeof(buffer));
  if (length < 0) return failed(std::strerror(errno), errno);
  return base::trim(std::string_view(buffer, static_cast<size_t>(length)));
}

std::optional<std::string> HostDir::linkName(const std::string& name) const {
  char target[PATH_MAX];
  ssize_t length = ::readlinkat(fd_.get(), name.c_str(), target, sizeof(target) - 1);
  if (length <= 0) return std::nullopt;
  std::string_view link(target, static_cast<size_t>(length));
  while (!link.empty() && link.back() == '/') link.remove_suffix(1);
  return std::string(link.substr(link.rfind('/') + 1));
}

bool HostDir::exists(const std::string& name) const {
  struct stat st {};
  return ::fstatat(fd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

namespace {

// Calls `visit(entry)` for each entry but . and .. of an open directory.
template <typename Visit>
void forEachEntry(int dirFd, Visit visit) {
  // fdopendir takes ownership of the fd it is given, so give it a duplicate.
  int copy = ::fcntl(dirFd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) return;
  DIR* dir = ::fdopendir(copy);
  if (dir == nullptr) {
    ::close(copy);
    return;
  }
  while (const dirent* entry = ::readdir(dir)) {
    std::string_view name = entry->d_name;
    if (name != "." && name != "..") visit(*entry);
  }
  ::closedir(dir);
}

}  // namespace

std::vector<std::string> HostDir::list() const {
  std::vector<std::string> names;
  forEachEntry(fd_.get(), [&](const dirent& entry) { names.emplace_back(entry.d_name); });
  std::sort(names.begin(), names.end());
  return names;
}

std::map<std::string, FileType> HostDir::types() const {
  std::map<std::string, FileType> types;
  forEachEntry(fd_.get(), [&](const dirent& entry) {
    struct stat st {};
    // A classifier reads the whole stat: readdir's type is not enough for it.
    if (entry.d_type != DT_UNKNOWN && !classify_) {
      st.st_mode = static_cast<mode_t>(DTTOIF(entry.d_type));
    } else if (::fstatat(fd_.get(), entry.d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
      return;
    }
    types[entry.d_name] = classify_ ? classify_(st) : fileTypeOf(st.st_mode);
  });
  return types;
}

}  // namespace mvf::core
