#include "base/dir_watcher.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>

namespace mvf::base {
namespace {

constexpr uint32_t kMask = IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB |
                           IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool isDir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The directory itself if it exists, else its nearest existing ancestor.
std::string existingDir(std::string path) {
  while (!isDir(path)) {
    size_t slash = path.rfind('/');
    if (slash == std::string::npos || path == "/") return "/";
    path = slash == 0 ? "/" : path.substr(0, slash);
  }
  return path;
}

}  // namespace

Status DirWatcher::start() {
  fd_.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!fd_) return Error{std::string("inotify_init1: ") + std::strerror(errno), errno};
  return ok();
}

Result<bool> DirWatcher::update(const std::set<std::string>& dirs,
                                const std::set<std::string>& contentDirs) {
  if (!fd_) return Error{"inotify is not running"};
  bool added = false;
  std::set<std::string> wanted;
  for (const auto& dir : dirs) wanted.insert(existingDir(dir));
  for (auto it = paths_.begin(); it != paths_.end();) {
    if (wanted.contains(it->second)) {
      ++it;
    } else {
      ::inotify_rm_watch(fd_.get(), it->first);
      it = paths_.erase(it);
    }
  }
  std::optional<Error> firstError;
  for (const auto& dir : wanted) {
    // Adding a watch on an inode that already has one returns the same wd, so this also
    // re-arms a directory that was replaced under the same name.
    uint32_t mask = contentDirs.contains(dir) ? kMask | IN_CLOSE_WRITE : kMask;
    int wd = ::inotify_add_watch(fd_.get(), dir.c_str(), mask);
    if (wd < 0) {
      if (!firstError)
        firstError = Error{"inotify_add_watch(" + dir + "): " + std::strerror(errno), errno};
      continue;
    }
    auto [it, inserted] = paths_.insert_or_assign(wd, dir);
    if (inserted) added = true;
  }
  if (firstError) return *firstError;
  return added;
}

std::vector<DirWatcher::Event> DirWatcher::read() {
  std::vector<Event> events;
  alignas(inotify_event) char buffer[16 * 1024];
  while (fd_) {
    ssize_t length = ::read(fd_.get(), buffer, sizeof(buffer));
    if (length <= 0) break;  // EAGAIN: drained
    for (ssize_t offset = 0; offset < length;) {
      const auto* raw = reinterpret_cast<const inotify_event*>(buffer + offset);
      offset += static_cast<ssize_t>(sizeof(inotify_event) + raw->len);
      Event event;
      event.mask = raw->mask;
      if (raw->mask & IN_Q_OVERFLOW) {
        events.push_back(std::move(event));
        continue;
      }
      auto it = paths_.find(raw->wd);
      if (it == paths_.end()) continue;
      event.dir = it->second;
      if (raw->len > 0) event.name = raw->name;
      if (raw->mask & IN_IGNORED) paths_.erase(it);  // the kernel dropped this watch
      events.push_back(std::move(event));
    }
  }
  return events;
}

}  // namespace mvf::base
