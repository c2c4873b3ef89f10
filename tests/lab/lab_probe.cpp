// mvf-lab-probe: runs inside a runc container made from an Allocate response, in the
// device lab's guest, and uses each device the way a VM would — real ioctls, not just
// open(). One line per check, "ok ..." or "FAIL ..."; exit 0 iff every check passed.
//   drm:PATH        DRM_IOCTL_VERSION
//   udmabuf:PATH    UDMABUF_CREATE on a sealed memfd, and the dma-buf maps its pages
//   vfio:GROUP      /dev/vfio/vfio API and TYPE1, the group viable, attached, IOMMU set
//   usb:PATH        the device descriptor, read through usbfs
//   denied:PATH     present in the container but not allocated: open() is EPERM
//   x11:N           an X11 connection setup through /tmp/.X11-unix/XN is accepted
//   readonly:DIR    no file can be created in DIR, and none of its entries removed
#include <dirent.h>
#include <fcntl.h>
#include <linux/udmabuf.h>
#include <linux/vfio.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
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
  std::printf("%s %s%s%s\n", ok ? "ok  " : "FAIL", what.c_str(), ok ? "" : ": ",
              ok ? "" : std::strerror(errno));
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

void vfio(const std::string& group) {
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
      vfio(value);
    else if (check == "usb")
      usb(value);
    else if (check == "denied")
      denied(value);
    else if (check == "x11")
      x11(value);
    else if (check == "readonly")
      readonly(value);
    else {
      std::fprintf(stderr, "mvf-lab-probe: unknown check '%s'\n", arg.c_str());
      return 2;
    }
  }
  return failures == 0 ? 0 : 1;
}
