#pragma once

#include <map>
#include <optional>
#include <string>

#include "base/file_id.h"
#include "base/result.h"

namespace mvf::cdi {

// One kind's spec file in a CDI spec dir (containerd, CRI-O and podman read /etc/cdi and
// /var/run/cdi by default), under a fixed name forever: "intel.com-vfio.json". Two files
// naming the same device make a runtime refuse it as a conflict, so there is never a
// second one of ours.
//
// Ownership: a file is ours when its content is what we wrote. Beside the spec, a record
// "<spec>.mvf-digest" keeps the FNV-1a digests of the last contents written (a name that
// ends in neither .json nor .yaml, so runtimes skip it). A file at our name that does not
// match is someone else's, and is never overwritten or removed.
//
// Paths are on this process's own filesystem (in a pod, where the chart mounts the
// host's dir). The dir's parents are resolved (/var/run is a symlink to /run on Debian);
// its last component must be a real directory, not a symlink.
class SpecFile {
 public:
  SpecFile(std::string dir, std::string kind);

  const std::string& path() const { return path_; }
  const std::string& kind() const { return kind_; }

  // Whether a spec may be written and named now: ok, or an Error saying why not — the
  // dir is missing, a file or a symlink; another file in it claims our kind (its path in
  // the message); the file at our name is not one we wrote. Reads each other *.json and
  // *.yaml file of the dir once per change of it.
  base::Status check();

  // Writes `content` as the spec, atomically: a temp file in the dir whose name ends in
  // ".tmp" (runtimes read only *.json and *.yaml), mode 0644, synced, then renamed over
  // the spec. On any failure (ENOSPC, EACCES, EROFS: the Error's code) the temp file is
  // removed and the spec stays whole as it was. Call after check().
  base::Status write(const std::string& content);

  // Whether the spec on disk is `content`: nothing to write. Compared by content, so a
  // spec left by this worker's previous run, or rewritten the same by another instance
  // sharing the dir, is not written again. Call after check() (the file is ours).
  bool current(const std::string& content);

  // Whether the spec this object last wrote is still on disk as written.
  bool intact();

  // Removes the spec and its record if the spec is ours; ok when there is none. An
  // Error when it is someone else's (left in place) or cannot be removed.
  base::Status remove();

 private:
  std::string recordPath() const { return path_ + ".mvf-digest"; }
  bool ours() const;  // the file at path_ is missing or ours

  std::string dir_;
  std::string kind_;
  std::string path_;
  // Whether the file at path_ holds `content`; remembers it as written when it does.
  bool holds(const std::string& content);

  // What we last wrote (or found on disk as we would write it): the file and its content.
  std::optional<base::FileId> written_;
  std::string writtenContent_;
  // Other spec files already read: path → (which file, whether it claims our kind).
  std::map<std::string, std::pair<base::FileId, bool>> others_;
};

}  // namespace mvf::cdi
