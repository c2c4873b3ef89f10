#include "base/signals.h"

#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>

namespace mvf::base {

UniqueFd blockedSignalFd(std::initializer_list<int> signals, bool nonBlocking) {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : signals) sigaddset(&set, sig);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return UniqueFd(::signalfd(-1, &set, SFD_CLOEXEC | (nonBlocking ? SFD_NONBLOCK : 0)));
}

}  // namespace mvf::base
