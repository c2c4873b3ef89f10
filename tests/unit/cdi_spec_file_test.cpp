// The CDI spec format as written (names, JSON, kinds) and the spec file's life in its dir:
// atomic writes, ownership, foreign files, bad dirs, a full or read-only disk.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "cdi/spec.h"
#include "cdi/spec_file.h"
#include "tests/support/fake_node.h"
#include "tests/support/status.h"
#include "tests/support/tmpfs.h"

namespace mvf::cdi {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeFile(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(CdiNames, DeviceNamesFollowTheCdiRules) {
  for (const char* name : {"7", "21", "0000:00:02.0", "usb-1-1.4", "X0", "udmabuf", "a_b"}) {
    EXPECT_TRUE(isDeviceName(name)) << name;
  }
  for (const char* name : {"", "-a", "a-", ".a", "a/b", "a b", "a=b", "X0:", "ü"}) {
    EXPECT_FALSE(isDeviceName(name)) << name;
  }
  EXPECT_EQ(qualifiedName("intel.com/vfio", "21"), "intel.com/vfio=21");
}

TEST(CdiNames, AnnotationKeysHaveThePrefixAndAtMost63Characters) {
  EXPECT_TRUE(isAnnotationKey("cdi.k8s.io/mvf-vfio_devices"));
  EXPECT_TRUE(isAnnotationKey("cdi.k8s.io/" + std::string(63, 'a')));
  EXPECT_FALSE(isAnnotationKey("cdi.k8s.io/" + std::string(64, 'a')));
  EXPECT_FALSE(isAnnotationKey("cdi.k8s.io/-a"));
  EXPECT_FALSE(isAnnotationKey("cdi.k8s.io/a:b"));
  EXPECT_FALSE(isAnnotationKey("example.com/a"));
}

TEST(CdiJson, WritesEveryNodeWithOwnerAndModeAndMountsAsBindMounts) {
  Device device{.name = "7",
                .nodes = {{.path = "/dev/vfio/7",
                           .hostPath = "/dev/vfio/7",
                           .permissions = "rw",
                           .uid = 0,
                           .gid = 107,
                           .fileMode = 0660}},
                .mounts = {{"/tmp/.X11-unix", "/tmp/.X11-unix", true}}};
  auto spec = nlohmann::json::parse(specJson("intel.com/vfio", {device}));
  EXPECT_EQ(spec["cdiVersion"], "0.5.0");
  EXPECT_EQ(spec["kind"], "intel.com/vfio");
  ASSERT_EQ(spec["devices"].size(), 1u);
  const auto& edits = spec["devices"][0]["containerEdits"];
  EXPECT_EQ(spec["devices"][0]["name"], "7");
  EXPECT_EQ(edits["deviceNodes"][0],
            nlohmann::json::parse(R"({"path": "/dev/vfio/7", "hostPath": "/dev/vfio/7",
              "permissions": "rw", "uid": 0, "gid": 107, "fileMode": 432})"));
  EXPECT_EQ(edits["mounts"][0], nlohmann::json::parse(R"({"hostPath": "/tmp/.X11-unix",
              "containerPath": "/tmp/.X11-unix", "type": "bind", "options": ["rbind", "ro"]})"));
  EXPECT_FALSE(edits.contains("env"));
}

TEST(CdiJson, KindOfReadsTheKindAsARuntimeWould) {
  EXPECT_EQ(kindOf(R"({"cdiVersion": "0.5.0", "kind": "intel.com/usb"})"), "intel.com/usb");
  EXPECT_EQ(kindOf("cdiVersion: 0.5.0\nkind: intel.com/usb\n"), "intel.com/usb");
  // Go's encoding/json matches keys whatever their case; an exact "kind" wins.
  EXPECT_EQ(kindOf(R"({"Kind": "intel.com/usb"})"), "intel.com/usb");
  EXPECT_EQ(kindOf("KIND: intel.com/usb\n"), "intel.com/usb");
  EXPECT_EQ(kindOf(R"({"KIND": "a/b", "kind": "intel.com/usb"})"), "intel.com/usb");
  // JSON with tabs, and YAML in a file that says .json: both are read.
  EXPECT_EQ(kindOf("{\n\t\"kind\":\t\"intel.com/usb\"\n}"), "intel.com/usb");
  EXPECT_EQ(kindOf("cdiVersion: \"0.5.0\"\nkind: intel.com/usb\ndevices: []\n"), "intel.com/usb");
  EXPECT_EQ(kindOf("{not json"), "");
  EXPECT_EQ(kindOf("kind: [a, b]\n"), "");
  EXPECT_EQ(kindOf("- a\n- b\n"), "");
  EXPECT_EQ(kindOf(R"(["kind"])"), "");
  EXPECT_EQ(kindOf("kinds: intel.com/usb\n"), "");
  EXPECT_EQ(kindOf(R"({"kind": 7})"), "");
  EXPECT_EQ(kindOf(""), "");
}

class SpecFileTest : public ::testing::Test {
 protected:
  SpecFileTest() { fs::create_directories(dir()); }
  std::string dir() const { return node_.dir() + "/cdi"; }
  std::string spec() const { return dir() + "/intel.com-udma.json"; }

  testing::FakeNode node_;
  SpecFile file_{dir(), "intel.com/udma"};
};

TEST_F(SpecFileTest, WritesAtomicallyWithMode0644AndARecordBesideIt) {
  ::umask(077);  // the mode is 0644 whatever the umask
  ASSERT_OK(file_.check());
  ASSERT_OK(file_.write("{\"kind\": \"intel.com/udma\"}\n"));
  ::umask(022);
  EXPECT_EQ(file_.path(), spec());
  EXPECT_EQ(readFile(spec()), "{\"kind\": \"intel.com/udma\"}\n");
  EXPECT_EQ(fs::status(spec()).permissions(), fs::perms(0644));
  EXPECT_TRUE(fs::exists(spec() + ".mvf-digest"));
  // No temp file is left, and none would be read as a spec: its name ends in .tmp.
  for (const auto& entry : fs::directory_iterator(dir())) {
    EXPECT_THAT(entry.path().filename().string(), ::testing::Not(HasSubstr(".tmp")));
  }
  EXPECT_TRUE(file_.current("{\"kind\": \"intel.com/udma\"}\n"));
  EXPECT_FALSE(file_.current("{}"));
}

// Compared by content: a restarted worker, or another instance sharing the dir that wrote
// the same, causes no write (two instances would otherwise rewrite each other forever).
TEST_F(SpecFileTest, ASpecOnDiskWithTheSameContentIsCurrentWhoeverWroteIt) {
  ASSERT_OK(file_.write("{\"a\": 1}\n"));
  SpecFile restarted(dir(), "intel.com/udma");
  ASSERT_OK(restarted.check());
  EXPECT_TRUE(restarted.current("{\"a\": 1}\n"));
  EXPECT_FALSE(restarted.current("{\"a\": 2}\n"));
  // Rewritten by another writer, the same bytes in a new file.
  writeFile(spec() + ".other", "{\"a\": 1}\n");
  fs::rename(spec() + ".other", spec());
  EXPECT_TRUE(file_.current("{\"a\": 1}\n"));
  EXPECT_TRUE(file_.intact());
  writeFile(spec(), "{\"a\": 3}\n");  // changed in place
  EXPECT_FALSE(file_.current("{\"a\": 1}\n"));
  EXPECT_FALSE(file_.intact());
}

TEST_F(SpecFileTest, ATempFileLeftByADeadWriterIsReplaced) {
  writeFile(spec() + ".tmp", "half a spec");
  ASSERT_OK(file_.write("{}\n"));
  EXPECT_FALSE(fs::exists(spec() + ".tmp"));
  EXPECT_EQ(readFile(spec()), "{}\n");
}

TEST_F(SpecFileTest, IsNotCurrentOnceRemovedOrReplacedByOtherContent) {
  ASSERT_OK(file_.write("{}\n"));
  fs::remove(spec());
  EXPECT_FALSE(file_.current("{}\n"));
  EXPECT_FALSE(file_.intact());
  ASSERT_OK(file_.check());  // a missing file is ours to write
  ASSERT_OK(file_.write("{}\n"));
  writeFile(spec() + ".new", "{ }\n");
  fs::rename(spec() + ".new", spec());
  EXPECT_FALSE(file_.current("{}\n"));
}

TEST_F(SpecFileTest, ANewProcessKnowsItsOwnFileByTheRecord) {
  ASSERT_OK(file_.write("{\"a\": 1}\n"));
  SpecFile restarted(dir(), "intel.com/udma");
  ASSERT_OK(restarted.check());
  ASSERT_OK(restarted.write("{\"a\": 2}\n"));
  EXPECT_EQ(readFile(spec()), "{\"a\": 2}\n");
  ASSERT_OK(restarted.remove());
  EXPECT_FALSE(fs::exists(spec()));
  EXPECT_FALSE(fs::exists(spec() + ".mvf-digest"));
  EXPECT_OK(restarted.remove());  // nothing left to remove
}

TEST_F(SpecFileTest, AFileAtOurNameThatWeDidNotWriteIsLeftAlone) {
  writeFile(spec(), "{\"kind\": \"intel.com/udma\", \"devices\": []}\n");
  auto checked = file_.check();
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("was not written by mvf-device-plugin"));
  EXPECT_FALSE(file_.remove());
  EXPECT_EQ(readFile(spec()), "{\"kind\": \"intel.com/udma\", \"devices\": []}\n");

  // Ours once, then edited by hand: no longer ours.
  fs::remove(spec());
  ASSERT_OK(file_.write("{}\n"));
  SpecFile other(dir(), "intel.com/udma");
  writeFile(spec(), "{ }\n");
  EXPECT_FALSE(other.check());
  EXPECT_FALSE(other.remove());
  EXPECT_TRUE(fs::exists(spec()));
}

TEST_F(SpecFileTest, AnotherFileClaimingOurKindIsAnErrorInJsonOrYaml) {
  ASSERT_OK(file_.write("{}\n"));
  for (const auto& [name, text] : std::vector<std::pair<std::string, std::string>>{
           {"vendor.json", R"({"cdiVersion": "0.5.0", "kind": "intel.com/udma"})"},
           {"vendor.yaml", "cdiVersion: 0.5.0\nkind: intel.com/udma\n"}}) {
    SCOPED_TRACE(name);
    writeFile(dir() + "/" + name, text);
    auto checked = file_.check();
    ASSERT_FALSE(checked);
    EXPECT_THAT(checked.error().message, HasSubstr(dir() + "/" + name));
    EXPECT_THAT(checked.error().message, HasSubstr("also claims CDI kind intel.com/udma"));
    fs::remove(dir() + "/" + name);
    EXPECT_OK(file_.check());
  }
  // Other kinds, other extensions and junk are not claims.
  writeFile(dir() + "/gpu.json", R"({"kind": "vendor.com/gpu"})");
  writeFile(dir() + "/notes.txt", "kind: intel.com/udma");
  writeFile(dir() + "/broken.json", "{\"kind\": \"intel.com/udma\"");
  fs::create_directory(dir() + "/dir.json");
  EXPECT_OK(file_.check());
}

TEST_F(SpecFileTest, TheDirMustBeARealDirectory) {
  SpecFile missing(node_.dir() + "/nowhere", "intel.com/udma");
  auto checked = missing.check();
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("No such file or directory"));

  writeFile(node_.dir() + "/file", "");
  checked = SpecFile(node_.dir() + "/file", "intel.com/udma").check();
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("is not a directory"));

  fs::create_directory_symlink(dir(), node_.dir() + "/link");
  checked = SpecFile(node_.dir() + "/link", "intel.com/udma").check();
  ASSERT_FALSE(checked);
  EXPECT_THAT(checked.error().message, HasSubstr("is a symlink"));

  // A symlink among the parents is resolved, as /var/run → /run is on Debian.
  fs::create_directories(node_.dir() + "/real/cdi");
  fs::create_directory_symlink(node_.dir() + "/real", node_.dir() + "/run-link");
  SpecFile throughParent(node_.dir() + "/run-link/cdi", "intel.com/udma");
  ASSERT_OK(throughParent.check());
  ASSERT_OK(throughParent.write("{}\n"));
  EXPECT_TRUE(fs::exists(node_.dir() + "/real/cdi/intel.com-udma.json"));
}

TEST_F(SpecFileTest, ASpecAtOurNameThatIsASymlinkIsNotOurs) {
  writeFile(node_.dir() + "/elsewhere", "{}\n");
  fs::create_symlink(node_.dir() + "/elsewhere", spec());
  EXPECT_FALSE(file_.check());
  EXPECT_FALSE(file_.remove());
  EXPECT_TRUE(fs::is_symlink(spec()));
}

TEST_F(SpecFileTest, AFullDiskLeavesTheOldSpecWholeAndNoTempFile) {
  testing::Tmpfs disk(dir(), 64 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  std::string old = "{\"devices\": []}\n";
  ASSERT_OK(file_.write(old));
  auto wrote = file_.write(std::string(256 * 1024, ' '));
  ASSERT_FALSE(wrote);
  EXPECT_EQ(wrote.error().code, ENOSPC) << wrote.error().message;
  EXPECT_EQ(readFile(spec()), old);
  EXPECT_FALSE(fs::exists(spec() + ".tmp"));
  // Still ours: the next process may replace it.
  SpecFile restarted(dir(), "intel.com/udma");
  EXPECT_OK(restarted.check());
}

TEST_F(SpecFileTest, AReadOnlyDirIsAnErrorNamingTheCause) {
  testing::Tmpfs disk(dir(), 64 * 1024);
  if (!disk.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here (needs CAP_SYS_ADMIN)";
  ASSERT_TRUE(disk.makeReadOnly());
  ASSERT_OK(file_.check());
  auto wrote = file_.write("{}\n");
  ASSERT_FALSE(wrote);
  EXPECT_EQ(wrote.error().code, EROFS);
  EXPECT_THAT(wrote.error().message, HasSubstr("Read-only file system"));
}

}  // namespace
}  // namespace mvf::cdi
