#include "cdi/spec_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>
#include <vector>

#include "base/digest.h"
#include "base/format.h"
#include "base/quote.h"
#include "base/unique_fd.h"
#include "cdi/spec.h"

namespace mvf::cdi {
namespace {

// A file bigger than this is not read: none of ours comes near it (500 USB devices make
// 300 KiB), and reading a hostile one whole on every change would cost us.
constexpr off_t kMaxSpecSize = 16 << 20;

base::Error failed(const std::string& what, int code = errno) {
  return base::Error{what + ": " + std::strerror(code), code};
}

// The text of a regular file of at most kMaxSpecSize bytes; nullopt otherwise.
std::optional<std::string> readSmall(int dirFd, const std::string& name) {
  base::UniqueFd fd(::openat(dirFd, name.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  struct stat st {};
  if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > kMaxSpecSize) {
    return std::nullopt;
  }
  std::string text(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < text.size()) {
    ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  text.resize(got);
  return text;
}

// Writes `name` in the dir atomically: "<name>.tmp", mode 0644, synced, renamed.
base::Status writeAtomically(int dirFd, const std::string& dir, const std::string& name,
                             const std::string& text) {
  std::string temp = name + ".tmp";
  ::unlinkat(dirFd, temp.c_str(), 0);  // left by a process that died mid-write
  base::UniqueFd fd(
      ::openat(dirFd, temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644));
  if (!fd) return failed("creating " + dir + "/" + temp);
  auto fail = [&](const std::string& what) {
    base::Error error = failed(what + " " + dir + "/" + temp);
    ::unlinkat(dirFd, temp.c_str(), 0);
    return error;
  };
  for (size_t done = 0; done < text.size();) {
    ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("writing");
    done += static_cast<size_t>(n);
  }
  // The mode whatever the umask: runtimes run as root, but operators read specs too.
  if (::fchmod(fd.get(), 0644) != 0) return fail("chmod 0644 of");
  if (::fsync(fd.get()) != 0) return fail("syncing");
  if (::close(fd.release()) != 0) return fail("closing");
  if (::renameat(dirFd, temp.c_str(), dirFd, name.c_str()) != 0) return fail("renaming");
  return base::ok();
}

bool isSpecName(const std::string& name) {
  return name.ends_with(".json") || name.ends_with(".yaml");
}

}  // namespace

SpecFile::SpecFile(std::string dir, std::string kind)
    : dir_(std::move(dir)), kind_(std::move(kind)) {
  std::string name = kind_;
  std::replace(name.begin(), name.end(), '/', '-');
  path_ = dir_ + "/" + name + ".json";
}

base::Status SpecFile::check() {
  struct stat st {};
  if (::lstat(dir_.c_str(), &st) != 0) return failed("CDI spec dir " + dir_);
  if (S_ISLNK(st.st_mode)) {
    return base::Error{"CDI spec dir " + dir_ + " is a symlink: give the directory itself", ELOOP};
  }
  if (!S_ISDIR(st.st_mode)) {
    return base::Error{"CDI spec dir " + dir_ + " is not a directory", ENOTDIR};
  }
  base::UniqueFd dirFd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  DIR* listing = dirFd ? ::fdopendir(::dup(dirFd.get())) : nullptr;
  if (!listing) return failed("reading CDI spec dir " + dir_);
  std::string ownName = path_.substr(dir_.size() + 1);
  std::map<std::string, std::pair<base::FileId, bool>> seen;
  std::string claim;  // the first other file that claims our kind
  while (dirent* entry = ::readdir(listing)) {
    std::string name = entry->d_name;
    if (name == ownName || !isSpecName(name)) continue;
    std::string path = dir_ + "/" + name;
    struct stat file {};
    if (::fstatat(dirFd.get(), name.c_str(), &file, 0) != 0 || !S_ISREG(file.st_mode)) continue;
    base::FileId id = base::fileIdOf(file);
    auto known = others_.find(path);
    bool claims = known != others_.end() && known->second.first == id
                      ? known->second.second
                      : kindOf(readSmall(dirFd.get(), name).value_or("")) == kind_;
    seen[path] = {id, claims};
    if (claims && (claim.empty() || path < claim)) claim = path;
  }
  ::closedir(listing);
  others_ = std::move(seen);
  if (!claim.empty()) {
    return base::Error{
        dir_ + "/" +
            base::quote(claim.substr(dir_.size() + 1), base::kQuoteLimit, base::Quotes::kIfNeeded) +
            " also claims CDI kind " + kind_ +
            ": a runtime would refuse a device both name; remove it to use " + path_,
        EEXIST};
  }
  if (!ours()) {
    return base::Error{path_ + " was not written by mvf-device-plugin (no matching " +
                           recordPath() + "): left alone",
                       EEXIST};
  }
  return base::ok();
}

bool SpecFile::ours() const {
  struct stat st {};
  if (::lstat(path_.c_str(), &st) != 0) return errno == ENOENT;
  if (!S_ISREG(st.st_mode)) return false;
  if (written_ && *written_ == base::fileIdOf(st)) return true;
  base::UniqueFd dirFd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto content = readSmall(dirFd.get(), path_.substr(dir_.size() + 1));
  auto record = readSmall(dirFd.get(), recordPath().substr(dir_.size() + 1));
  if (!content || !record) return false;
  std::istringstream lines(*record);
  std::string digest = base::fnv1a(*content);
  for (std::string line; std::getline(lines, line);) {
    if (line == digest) return true;
  }
  return false;
}

bool SpecFile::holds(const std::string& content) {
  auto id = base::fileIdOf(path_);
  if (!id) return false;
  if (written_ && *written_ == *id && writtenContent_ == content) return true;
  base::UniqueFd dirFd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  auto onDisk = readSmall(dirFd.get(), path_.substr(dir_.size() + 1));
  if (!onDisk || *onDisk != content) return false;
  written_ = id;
  writtenContent_ = content;
  return true;
}

bool SpecFile::current(const std::string& content) { return holds(content); }

bool SpecFile::intact() { return written_ && holds(writtenContent_); }

base::Status SpecFile::write(const std::string& content) {
  base::UniqueFd dirFd(::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dirFd) return failed("opening CDI spec dir " + dir_);
  std::string name = path_.substr(dir_.size() + 1);
  // The record first, holding the new digest and the one of the spec on disk (ours, as
  // check() found): whenever the process dies, the file on disk matches one of them.
  std::vector<std::string> digests = {base::fnv1a(content)};
  if (auto onDisk = readSmall(dirFd.get(), name)) digests.push_back(base::fnv1a(*onDisk));
  std::string record = fmt::format(
      "# mvf-device-plugin wrote {}: FNV-1a digests of the contents it wrote, newest "
      "first. Remove both files to uninstall.\n{}\n",
      name, fmt::join(digests, "\n"));
  if (auto wrote = writeAtomically(dirFd.get(), dir_, name + ".mvf-digest", record); !wrote) {
    return wrote.error();
  }
  if (auto wrote = writeAtomically(dirFd.get(), dir_, name, content); !wrote) {
    return wrote.error();
  }
  written_ = base::fileIdOf(path_);
  writtenContent_ = content;
  return base::ok();
}

base::Status SpecFile::remove() {
  if (!ours()) return base::Error{path_ + " was not written by mvf-device-plugin: left alone"};
  for (const std::string& path : {path_, recordPath()}) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return failed("removing " + path);
  }
  written_.reset();
  writtenContent_.clear();
  return base::ok();
}

}  // namespace mvf::cdi
