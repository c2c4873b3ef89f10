#include "tests/support/fake_launcher.h"

#include <fcntl.h>
#include <unistd.h>

namespace mvf::testing {

base::Result<pid_t> FakeLauncher::launch(const supervisor::LaunchRequest& request) {
  if (failNext) {
    base::Error error = std::move(*failNext);
    failNext.reset();
    return error;
  }
  Launched entry{.pid = static_cast<pid_t>(1000 + launched.size()),
                 .binary = request.binary,
                 .args = request.args};
  entry.notify.reset(::fcntl(request.inheritFd, F_DUPFD_CLOEXEC, 0));
  launched.push_back(std::move(entry));
  return launched.back().pid;
}

void FakeLauncher::say(pid_t pid, const std::string& event, const std::string& extra) {
  for (const auto& entry : launched) {
    if (entry.pid != pid) continue;
    std::string line = "{\"event\":\"" + event + "\"" + extra + "}\n";
    (void)!::write(entry.notify.get(), line.data(), line.size());
    return;
  }
}

pid_t FakeLauncher::pidOf(const std::string& worker) const {
  for (auto it = launched.rbegin(); it != launched.rend(); ++it) {
    if (it->binary.ends_with("mvf-worker-" + worker)) return it->pid;
  }
  return 0;
}

}  // namespace mvf::testing
