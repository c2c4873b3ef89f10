#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"

namespace mvf::base {

// inotify watches on a set of directories (paths on our own filesystem). A directory
// that does not exist yet is covered by watching its nearest existing ancestor, so its
// creation is seen; the owner calls update() again after each event to move the watch
// down. Creations, removals, renames and attribute changes are watched: enough for
// devtmpfs and tmpfs, where device nodes and sockets come and go. A dir whose files'
// contents matter (the CDI spec dir) is also watched for files written and closed: a
// device node closed after a write must not wake anyone, so only there.
class DirWatcher {
 public:
  // Whether inotify could be had (EMFILE: the per-user instance limit, shared with every
  // root container); without it the owner polls.
  Status start();
  int fd() const { return fd_.get(); }

  // Watches exactly `dirs` from now on. Returns whether a directory is watched that was
  // not before (whatever happened in it between its creation and now sent no event, so
  // the owner rescans), or the Error of the first watch that failed (ENOSPC: the per-user
  // watch limit), after which the owner should poll.
  // `contentDirs`, a subset of `dirs`, are watched for IN_CLOSE_WRITE too.
  Result<bool> update(const std::set<std::string>& dirs,
                      const std::set<std::string>& contentDirs = {});

  struct Event {
    std::string dir;   // the watched directory the event happened in
    std::string name;  // the entry's name; empty for events on the dir itself
    uint32_t mask = 0;
  };
  // Drains every queued event. IN_Q_OVERFLOW comes back as an event with an empty dir:
  // events were lost, rescan everything.
  std::vector<Event> read();

 private:
  UniqueFd fd_;
  std::map<int, std::string> paths_;  // wd → watched path
};

}  // namespace mvf::base
