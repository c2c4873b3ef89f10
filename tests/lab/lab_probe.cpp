// mvf-lab-probe: runs inside a runc container made from an Allocate response, in the
// device lab's guest, and uses each device the way a VM would — real ioctls, not just
// open(). One line per check, "ok ..." or "FAIL ..."; exit 0 iff every check passed.
//   drm:PATH        DRM_IOCTL_VERSION
//   udmabuf:PATH    UDMABUF_CREATE on a sealed memfd, and the dma-buf maps its pages
//   vfio:GROUP      /dev/vfio/vfio API and TYPE1, the group viable, attached, IOMMU set
//   vfio-dma:GROUP  vfio:GROUP, then 16 MiB mapped for DMA and unmapped: more than the
//                   kernel's default RLIMIT_MEMLOCK (8 MiB), as a VM's RAM would be
//   usb:PATH        the device descriptor, read through usbfs
//   denied:PATH     present in the container but not allocated: open() is EPERM
//   x11:N           an X11 connection setup through /tmp/.X11-unix/XN is accepted
//   readonly:DIR    no file can be created in DIR, and none of its entries removed
//   user:UID:GID    the probe runs as UID/GID (real and effective), with no capability
//   node:PATH@UID:GID:MODE  PATH is a character device owned by UID:GID with permission
//                   bits MODE (octal), and opens read-write
//   absent:PATH     PATH is not in the container at all
#include <dirent.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/udmabuf.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

// The layout of <drm/drm.h>'s drm_version, so that no libdrm is needed.
struct DrmVersion {
  int major, minor, patch;
  size_t nameLength;
  char* name;
  size_t dateLength;
  char* date;
  size_t descLength;
  char* desc;
};
constexpr unsigned long kDrmIoctlVersion = _IOWR('d', 0x00, DrmVersion);

int failures = 0;

void report(bool ok, const std::string& what) {
  // errno says why, if a call failed; a check that found something else sets it to 0.
  bool why = !ok && errno != 0;
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), why ? ": " : "",
              why ? std::strerror(errno) : "");
  if (!ok) ++failures;
}

void drm(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  char name[64] = {};
  DrmVersion version{};
  version.nameLength = sizeof(name) - 1;
  version.name = name;
  bool ok = fd >= 0 && ::ioctl(fd, kDrmIoctlVersion, &version) == 0;
  report(ok, path + " DRM_IOCTL_VERSION: driver " + name);
  if (fd >= 0) ::close(fd);
}

void udmabuf(const std::string& path) {
  int device = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  int memfd = ::memfd_create("mvf-lab", MFD_ALLOW_SEALING);
  long size = 4 * ::sysconf(_SC_PAGESIZE);
  bool ready = device >= 0 && memfd >= 0 && ::ftruncate(memfd, size) == 0 &&
               ::fcntl(memfd, F_ADD_SEALS, F_SEAL_SHRINK) == 0;
  udmabuf_create create{};
  create.memfd = static_cast<__u32>(memfd);
  create.flags = UDMABUF_FLAGS_CLOEXEC;
  create.size = static_cast<__u64>(size);
  int buffer = ready ? ::ioctl(device, UDMABUF_CREATE, &create) : -1;
  bool mapped = false;
  if (buffer >= 0) {
    void* pages = ::mmap(nullptr, static_cast<size_t>(size), PROT_READ, MAP_SHARED, buffer, 0);
    mapped = pages != MAP_FAILED && ::pwrite(memfd, "mvf!", 4, 0) == 4 &&
             std::memcmp(pages, "mvf!", 4) == 0;
    ::close(buffer);
  }
  report(buffer >= 0 && mapped, path + " UDMABUF_CREATE: a dma-buf that maps the memfd");
  if (memfd >= 0) ::close(memfd);
  if (device >= 0) ::close(device);
}

// `dmaBytes` > 0: also maps that much anonymous memory at IOVA 0 for DMA, and unmaps it.
// The kernel pins the pages and charges them to RLIMIT_MEMLOCK (no CAP_IPC_LOCK here).
void vfio(const std::string& group, size_t dmaBytes) {
  int container = ::open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
  bool api = container >= 0 && ::ioctl(container, VFIO_GET_API_VERSION) == VFIO_API_VERSION &&
             ::ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1_IOMMU) == 1;
  report(api, "/dev/vfio/vfio: VFIO API and the TYPE1 IOMMU");
  int fd = ::open(group.c_str(), O_RDWR | O_CLOEXEC);
  vfio_group_status status{};
  status.argsz = sizeof(status);
  bool viable = fd >= 0 && ::ioctl(fd, VFIO_GROUP_GET_STATUS, &status) == 0 &&
                (status.flags & VFIO_GROUP_FLAGS_VIABLE);
  report(viable, group + ": the group is viable");
  bool attached = viable && api && ::ioctl(fd, VFIO_GROUP_SET_CONTAINER, &container) == 0 &&
                  ::ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1_IOMMU) == 0;
  report(attached, group + ": attached to a container, TYPE1 IOMMU set");
  if (dmaBytes > 0) {
    void* memory =
        ::mmap(nullptr, dmaBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    vfio_iommu_type1_dma_map map{};
    map.argsz = sizeof(map);
    map.flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
    map.vaddr = reinterpret_cast<__u64>(memory);
    map.iova = 0;
    map.size = dmaBytes;
    bool mapped =
        attached && memory != MAP_FAILED && ::ioctl(container, VFIO_IOMMU_MAP_DMA, &map) == 0;
    report(mapped,
           group + ": VFIO_IOMMU_MAP_DMA of " + std::to_string(dmaBytes >> 20) + " MiB at IOVA 0");
    if (mapped) {
      vfio_iommu_type1_dma_unmap unmap{};
      unmap.argsz = sizeof(unmap);
      unmap.iova = 0;
      unmap.size = dmaBytes;
      report(::ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0 && unmap.size == dmaBytes,
             group + ": VFIO_IOMMU_UNMAP_DMA of the same range");
    }
    if (memory != MAP_FAILED) ::munmap(memory, dmaBytes);
  }
  if (fd >= 0) ::close(fd);
  if (container >= 0) ::close(container);
}

void usb(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  unsigned char descriptor[18] = {};
  bool ok = fd >= 0 && ::read(fd, descriptor, sizeof(descriptor)) == 18 && descriptor[1] == 1;
  char ids[32];
  std::snprintf(ids, sizeof(ids), "%04x:%04x", descriptor[8] | descriptor[9] << 8,
                descriptor[10] | descriptor[11] << 8);
  report(ok, path + " device descriptor " + ids);
  if (fd >= 0) ::close(fd);
}

void denied(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  bool refused = fd < 0 && errno == EPERM;
  int saved = errno;
  if (fd >= 0) ::close(fd);
  errno = saved;
  report(refused, path + " (present, not allocated) refused with EPERM");
}

void x11(const std::string& display) {
  std::string path = "/tmp/.X11-unix/X" + display;
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof(address.sun_path), "%s", path.c_str());
  // Connection setup: little-endian, protocol 11.0, no authorization.
  const unsigned char setup[12] = {'l', 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  unsigned char reply = 0xff;
  bool ok = fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
            ::write(fd, setup, sizeof(setup)) == sizeof(setup) && ::read(fd, &reply, 1) == 1 &&
            reply == 1;
  report(ok, path + ": the X server accepted the connection (DISPLAY=:" + display + ")");
  if (fd >= 0) ::close(fd);
}

void readonly(const std::string& dir) {
  std::string created = dir + "/mvf-lab-probe";
  int fd = ::open(created.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  bool refused = fd < 0 && (errno == EROFS || errno == EACCES || errno == EPERM);
  if (fd >= 0) {
    ::close(fd);
    ::unlink(created.c_str());
  }
  report(refused, dir + ": creating a file is refused");
  DIR* entries = ::opendir(dir.c_str());
  std::string victim;
  while (entries != nullptr) {
    const dirent* entry = ::readdir(entries);
    if (entry == nullptr) break;
    if (entry->d_name[0] != '.') victim = dir + "/" + entry->d_name;
  }
  if (entries != nullptr) ::closedir(entries);
  bool kept = !victim.empty() && ::unlink(victim.c_str()) != 0 &&
              (errno == EROFS || errno == EACCES || errno == EPERM);
  report(kept, (victim.empty() ? dir + " (empty)" : victim) + ": removing it is refused");
}

// "UID:GID": who the probe runs as. Without any capability, an open() that works does so
// because of the node's owner and mode, not because root may override them.
void user(const std::string& ids) {
  unsigned uid = 0, gid = 0;
  std::sscanf(ids.c_str(), "%u:%u", &uid, &gid);
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3] = {};
  bool none = ::syscall(SYS_capget, &header, caps) == 0 && caps[0].effective == 0 &&
              caps[1].effective == 0 && caps[0].permitted == 0 && caps[1].permitted == 0;
  bool ok = ::getuid() == uid && ::geteuid() == uid && ::getgid() == gid && ::getegid() == gid;
  errno = 0;
  report(ok && none, "runs as uid " + std::to_string(::geteuid()) + " gid " +
                         std::to_string(::getegid()) +
                         (none ? ", no capability" : ", WITH capabilities"));
}

// "PATH@UID:GID:MODE": the node as the container has it, and that it opens read-write.
void node(const std::string& spec) {
  size_t at = spec.rfind('@');
  std::string path = spec.substr(0, at);
  unsigned uid = 0, gid = 0, mode = 0;
  if (at != std::string::npos) std::sscanf(spec.c_str() + at + 1, "%u:%u:%o", &uid, &gid, &mode);
  struct stat st {};
  bool found = ::stat(path.c_str(), &st) == 0;
  char seen[64] = "missing";
  if (found) {
    std::snprintf(seen, sizeof(seen), "%u:%u %04o", st.st_uid, st.st_gid, st.st_mode & 07777);
  }
  bool owned = found && S_ISCHR(st.st_mode) && st.st_uid == uid && st.st_gid == gid &&
               (st.st_mode & 07777) == mode;
  int fd = owned ? ::open(path.c_str(), O_RDWR | O_CLOEXEC) : -1;
  if (!owned) errno = 0;
  report(fd >= 0,
         path + " is " + seen + " (want " + spec.substr(at + 1) + ") and opens read-write");
  if (fd >= 0) ::close(fd);
}

void absent(const std::string& path) {
  struct stat st {};
  bool missing = ::stat(path.c_str(), &st) != 0 && errno == ENOENT;
  if (!missing) errno = 0;
  report(missing, path + " (not allocated) is not in the container");
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    size_t colon = arg.find(':');
    std::string check = arg.substr(0, colon);
    std::string value = colon == std::string::npos ? "" : arg.substr(colon + 1);
    if (check == "drm")
      drm(value);
    else if (check == "udmabuf")
      udmabuf(value);
    else if (check == "vfio")
      vfio(value, 0);
    else if (check == "usb")
      usb(value);
    else if (check == "denied")
      denied(value);
    else if (check == "x11")
      x11(value);
    else if (check == "readonly")
      readonly(value);
    else if (check == "vfio-dma")
      vfio(value, size_t{16} << 20);
    else if (check == "user")
      user(value);
    else if (check == "node")
      node(value);
    else if (check == "absent")
      absent(value);
    else {
      std::fprintf(stderr, "mvf-lab-probe: unknown check '%s'\n", arg.c_str());
      return 2;
    }
  }
  return failures == 0 ? 0 : 1;
}
