#pragma once

#include <sys/mount.h>

#include <cstddef>
#include <string>
#include <utility>

namespace mvf::testing {

// A tmpfs of `bytes` mounted over `dir` (which must exist), unmounted on destruction: a
// disk that fills up, or turns read-only, on demand. Mounting needs CAP_SYS_ADMIN (CI
// runs as root); a test checks mounted() and skips without it.
class Tmpfs {
 public:
  Tmpfs(std::string dir, size_t bytes) : dir_(std::move(dir)) {
    std::string options = "size=" + std::to_string(bytes);
    mounted_ = ::mount("tmpfs", dir_.c_str(), "tmpfs", 0, options.c_str()) == 0;
  }
  ~Tmpfs() {
    if (mounted_) ::umount2(dir_.c_str(), MNT_DETACH);
  }
  Tmpfs(const Tmpfs&) = delete;
  Tmpfs& operator=(const Tmpfs&) = delete;

  bool mounted() const { return mounted_; }
  // Remounts it read-only; false when that failed.
  bool makeReadOnly() const {
    return ::mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_RDONLY, nullptr) == 0;
  }

 private:
  std::string dir_;
  bool mounted_ = false;
};

}  // namespace mvf::testing
