#include "supervisor/worker_slot.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/logging.h"
#include "base/process.h"
#include "supervisor/metrics.h"

namespace mvf::supervisor {
namespace {

using Event = v1::WorkerEvent;

std::string seconds(base::Timers::Clock::duration d) {
  return fmt::format("{:.1f}s", std::chrono::duration<double>(d).count());
}

std::string signalName(int sig) {
  const char* name = sigabbrev_np(sig);
  return name ? std::string("SIG") + name : std::to_string(sig);
}

}  // namespace

std::string describeExit(int waitStatus) {
  if (WIFSIGNALED(waitStatus)) {
    return "killed by " + signalName(WTERMSIG(waitStatus)) +
           (WCOREDUMP(waitStatus) ? " (core dumped)" : "");
  }
  return "exited with code " + std::to_string(WEXITSTATUS(waitStatus));
}

WorkerSlot::WorkerSlot(std::string name, Config config, Deps deps)
    : name_(std::move(name)),
      config_(std::move(config)),
      deps_(std::move(deps)),
      policy_(config_.policy, deps_.random) {
  status_.set_name(name_);
  status_.set_resource("intel.com/" + name_);
}

WorkerSlot::~WorkerSlot() {
  cancelTimers();
  deps_.timers.cancel(restartTimer_);
  if (events_) deps_.fds.unwatchFd(events_->fd());
}

void WorkerSlot::setState(State state) { status_.set_state(state); }

v1::WorkerStatus WorkerSlot::status() const {
  v1::WorkerStatus out = status_;
  out.set_consecutive_failures(policy_.failures());
  out.set_crash_looping(policy_.crashLooping());
  addMetrics(*out.mutable_metrics(), run_);
  return out;
}

void WorkerSlot::enable() {
  if (enabled_) return;
  enabled_ = true;
  policy_ = RestartPolicy(config_.policy, deps_.random);
  start();
}

void WorkerSlot::disable() {
  enabled_ = false;
  restartWanted_ = false;
  deps_.timers.cancel(restartTimer_);
  restartTimer_ = 0;
  if (pid_ > 0) {
    setState(State::WorkerStatus_State_stopping);
    deps_.launcher.signal(pid_, SIGTERM);
  } else {
    setState(State::WorkerStatus_State_unspecified);
  }
  deps_.changed();
}

void WorkerSlot::killIfRunning(const std::string& reason) {
  if (pid_ <= 0) return;
  killedHard_ = true;
  sigkill(reason);
}

void WorkerSlot::reload(Config config) {
  config_ = std::move(config);
  if (!enabled_) return;
  if (status_.state() == State::WorkerStatus_State_failed) {
    base::logger("supervisor")->info("{}: trying again after SIGHUP", name_);
    policy_ = RestartPolicy(config_.policy, deps_.random);
    start();
    return;
  }
  auto settings = deps_.settingsOf(name_, config_);
  if (!settings) {
    base::logger("supervisor")
        ->error("{}: the new configuration is not valid, keeping it as it runs: {}", name_,
                settings.error().message);
    return;
  }
  if (settings.value() == settings_) return;
  base::logger("supervisor")->info("{}: settings changed; restarting it", name_);
  if (pid_ > 0) {
    restartWanted_ = true;
    setState(State::WorkerStatus_State_stopping);
    deps_.launcher.signal(pid_, SIGTERM);
    deps_.changed();
  } else {
    deps_.timers.cancel(restartTimer_);
    restartTimer_ = 0;
    start();
  }
}

void WorkerSlot::start() {
  restartTimer_ = 0;
  restartWanted_ = false;
  killedHard_ = false;
  settings_.clear();
  configError_.clear();
  int pipeFds[2];
  if (::pipe2(pipeFds, O_CLOEXEC | O_NONBLOCK) != 0) {
    auto decision = policy_.onDeath(base::Duration(0));
    base::logger("supervisor")
        ->error("pipe2 for {}: {}; retrying in {}", name_, std::strerror(errno),
                seconds(decision.delay));
    scheduleRestart(decision.delay);
    return;
  }
  base::UniqueFd readEnd(pipeFds[0]);
  base::UniqueFd writeEnd(pipeFds[1]);
  // The worker's end is blocking as handed over; it makes it non-blocking itself.
  ::fcntl(writeEnd.get(), F_SETFL, 0);
  std::vector<std::string> args = config_.args;
  args.insert(args.end(), {"--notify-fd", std::to_string(writeEnd.get())});
  auto launched = deps_.launcher.launch({config_.binary, args, writeEnd.get()});
  if (!launched) {
    fail(launched.error().message + "; fix it and send SIGHUP");
    return;
  }
  pid_ = launched.value();
  events_.emplace(std::move(readEnd), name_);
  deps_.fds.watchFd(events_->fd(), [this] { onEventsReadable(); });
  startedAt_ = deps_.timers.now();
  ready_ = false;
  killReason_.clear();
  setState(State::WorkerStatus_State_starting);
  status_.set_pid(pid_);
  status_.set_started_at_unix_ms(deps_.timers.unixMs());
  status_.set_ready_at_unix_ms(0);
  status_.set_next_restart_at_unix_ms(0);
  status_.set_registered(false);
  status_.clear_failed_reason();
  readyTimer_ = deps_.timers.after(config_.readyTimeout, [this] {
    readyTimer_ = 0;
    sigkill("not ready within " + seconds(config_.readyTimeout));
  });
  base::logger("supervisor")->info("started {} (pid {})", name_, pid_);
  deps_.changed();
}

void WorkerSlot::fail(const std::string& reason) {
  base::logger("supervisor")->error("{}: {}; not restarting it", name_, reason);
  setState(State::WorkerStatus_State_failed);
  status_.set_failed_reason(reason);
  status_.set_pid(0);
  deps_.changed();
}

void WorkerSlot::sigkill(const std::string& reason) {
  if (pid_ <= 0) return;
  base::logger("supervisor")->warn("killing {} (pid {}): {}", name_, pid_, reason);
  killReason_ = reason;
  deps_.launcher.signal(pid_, SIGKILL);
}

void WorkerSlot::onEventsReadable() {
  if (!events_) return;
  for (const auto& event : events_->read()) onEvent(event);
  if (events_ && events_->closed()) {
    // The worker closed its end; its exit comes through SIGCHLD.
    deps_.fds.unwatchFd(events_->fd());
    events_.reset();
  }
}

void WorkerSlot::onEvent(const Event& event) {
  switch (event.event()) {
    case Event::ready:
      if (ready_) return;
      ready_ = true;
      settings_ = event.settings_digest();
      readyAt_ = deps_.timers.now();
      setState(State::WorkerStatus_State_running);
      status_.set_ready_at_unix_ms(deps_.timers.unixMs());
      deps_.timers.cancel(readyTimer_);
      readyTimer_ = 0;
      stableTimer_ = deps_.timers.after(config_.policy.resetAfter, [this] {
        stableTimer_ = 0;
        if (policy_.onStable()) base::logger("supervisor")->info("{}: crash loop over", name_);
        deps_.changed();
      });
      armHeartbeat();
      base::logger("supervisor")->info("{} ready after {}", name_, seconds(readyAt_ - startedAt_));
      break;
    case Event::heartbeat:
      if (ready_) armHeartbeat();
      return;  // nothing to report
    case Event::registered:
      status_.set_registered(true);
      status_.set_times_registered(status_.times_registered() + 1);
      break;
    case Event::unregistered:
      status_.set_registered(false);
      break;
    case Event::devices:
      status_.set_devices_total(event.total());
      status_.set_devices_healthy(event.healthy());
      status_.set_mode(event.mode());
      *status_.mutable_usable_units() = event.usable_units();
      status_.set_usable_units_total(event.usable_units_total());
      break;
    case Event::metrics:
      run_ = event.counts();  // everything this run counted so far
      break;
    case Event::config_error:
      configError_ = event.detail();  // its exit 78 follows
      return;
    default:
      return;
  }
  deps_.changed();
}

void WorkerSlot::armHeartbeat() {
  deps_.timers.cancel(heartbeatTimer_);
  heartbeatTimer_ = deps_.timers.after(config_.heartbeatTimeout, [this] {
    heartbeatTimer_ = 0;
    sigkill("no heartbeat for " + seconds(config_.heartbeatTimeout));
  });
}

void WorkerSlot::cancelTimers() {
  for (auto* timer : {&readyTimer_, &heartbeatTimer_, &stableTimer_}) {
    deps_.timers.cancel(*timer);
    *timer = 0;
  }
}

void WorkerSlot::onExit(int waitStatus) {
  // What it said last, before its pipe goes.
  onEventsReadable();
  if (events_) deps_.fds.unwatchFd(events_->fd());
  events_.reset();
  cancelTimers();
  auto now = deps_.timers.now();
  auto* exit = status_.mutable_last_exit();
  exit->Clear();
  exit->set_signaled(WIFSIGNALED(waitStatus));
  if (WIFSIGNALED(waitStatus)) {
    exit->set_signal(WTERMSIG(waitStatus));
    exit->set_signal_name(signalName(WTERMSIG(waitStatus)));
    exit->set_core_dumped(WCOREDUMP(waitStatus));
  } else {
    exit->set_exit_code(WEXITSTATUS(waitStatus));
  }
  exit->set_at_unix_ms(deps_.timers.unixMs());
  exit->set_reason(killReason_);
  exit->set_uptime_ms(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - startedAt_).count());
  ++(*status_.mutable_exits())[std::string(exitReason(*exit))];
  // This run's counts join the earlier runs'; what it counted after its last metrics
  // event is lost with it.
  addMetrics(*status_.mutable_metrics(), run_);
  run_.Clear();
  status_.clear_mode();
  status_.clear_usable_units();
  status_.clear_usable_units_total();
  std::string what = describeExit(waitStatus) + " after " + seconds(now - startedAt_) +
                     (killReason_.empty() ? "" : " (" + killReason_ + ")");
  pid_ = 0;
  status_.set_pid(0);
  status_.set_registered(false);
  auto log = base::logger("supervisor");

  if (!enabled_) {
    log->info("{} {}", name_, what);
    setState(State::WorkerStatus_State_unspecified);
    deps_.changed();
    return;
  }
  if (restartWanted_) {
    log->info("{} {}; starting it with its new settings", name_, what);
    start();
    return;
  }
  if (!WIFSIGNALED(waitStatus) && WEXITSTATUS(waitStatus) == base::kExitConfig) {
    log->error("{} {}", name_, what);
    fail("configuration error: " +
         (configError_.empty() ? std::string("exit 78, see its log") : configError_) +
         "; fix it (in the config file, then SIGHUP; a flag or env var takes a restart of "
         "the supervisor)");
    return;
  }
  base::Duration readyFor =
      ready_ ? std::chrono::duration_cast<base::Duration>(now - readyAt_) : base::Duration(0);
  auto decision = policy_.onDeath(readyFor);
  log->warn("{} {}; restarting {} (failure {} in a row)", name_, what,
            decision.delay.count() == 0 ? std::string("now") : "in " + seconds(decision.delay),
            decision.failures);
  if (decision.crashLoopStarted) {
    log->error("{} is crash looping: {} consecutive failures", name_, decision.failures);
  }
  scheduleRestart(decision.delay);
}

void WorkerSlot::scheduleRestart(base::Duration delay) {
  setState(State::WorkerStatus_State_backoff);
  status_.set_restarts(status_.restarts() + 1);
  status_.set_next_restart_at_unix_ms(deps_.timers.unixMs() + delay.count());
  restartTimer_ = deps_.timers.after(delay, [this] { start(); });
  deps_.changed();
}

}  // namespace mvf::supervisor
