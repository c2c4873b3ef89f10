#include "supervisor/supervisor.h"

#include <fcntl.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <random>

#include "base/event_loop.h"
#include "base/logging.h"
#include "base/process.h"
#include "base/signals.h"
#include "base/unix_socket.h"
#include "base/version.h"
#include "supervisor/status_service.h"
#include "workers/core/worker.h"
#include "workers/igpu/gpus.h"
#include "workers/udma/udmabuf.h"
#include "workers/usb/usb_devices.h"
#include "workers/vfio/iommu_groups.h"
#include "workers/x11/x11_displays.h"

namespace mvf::supervisor {
namespace {

using namespace std::chrono_literals;
using base::Duration;
using base::EventLoop;
using base::OptionSpec;
using base::Scope;
using base::UniqueFd;
using Clock = std::chrono::steady_clock;
using Event = v1::WorkerEvent;
using State = v1::WorkerStatus;

// Every worker the supervisor knows, in the order it starts them.
const std::vector<const core::ResourceSpec*>& knownWorkers() {
  static const std::vector<const core::ResourceSpec*> specs = {
      &x11::kSpec, &udma::kSpec, &vfio::kSpec, &igpu::kSpec, &usb::kSpec};
  return specs;
}

const core::ResourceSpec* specFor(const std::string& name) {
  for (const auto* spec : knownWorkers()) {
    if (spec->name == name) return spec;
  }
  return nullptr;
}

// The workers' options that apply to all of them, as the supervisor passes them on.
std::vector<OptionSpec> commonWorkerOptions() {
  std::vector<OptionSpec> common;
  for (const auto& option : core::workerOptions(core::ResourceSpec{})) {
    if (option.scope == Scope::kCommon || option.name == "config") common.push_back(option);
  }
  return common;
}

int64_t unixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string seconds(Clock::duration d) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.1fs", std::chrono::duration<double>(d).count());
  return text;
}

// One worker: its process, what it last reported, and its restart policy.
struct Slot {
  const core::ResourceSpec* spec = nullptr;
  bool enabled = false;
  RestartPolicy policy;
  std::string settings;  // its effective settings at its last start, to compare on SIGHUP

  State::State state = State::starting;
  pid_t pid = 0;
  UniqueFd events;  // read end of its notify pipe
  std::string buffer;
  Clock::time_point startedAt{};
  Clock::time_point readyAt{};
  bool ready = false;
  bool restartWanted = false;  // SIGHUP changed its settings: start again when it exits
  std::string killReason;      // why we killed it, for its exit record

  EventLoop::TimerId readyTimer = 0, heartbeatTimer = 0, stableTimer = 0, restartTimer = 0;

  v1::WorkerStatus status;  // the reported fields: pid, times, restarts, last exit, ...

  Slot(const core::ResourceSpec* s, RestartPolicy p) : spec(s), policy(std::move(p)) {
    status.set_name(s->name);
    status.set_resource("intel.com/" + s->name);
  }
};

}  // namespace

std::vector<OptionSpec> supervisorOptions() {
  auto options = commonWorkerOptions();
  auto workerList = [](std::string_view name) -> std::string {
    return specFor(std::string(name)) ? ""
                                      : "expected worker names among x11, udma, vfio, igpu, usb";
  };
  std::vector<OptionSpec> own = {
      {"workers", "x11,udma,vfio,igpu,usb", "the workers to run (repeatable or comma-separated)",
       Scope::kWorker, workerList, /*repeatable=*/true},
      {"workers-dir", "",
       "where the mvf-worker-<name> binaries are (default: the supervisor's dir)", Scope::kWorker,
       base::absolutePath()},
      {"status-socket", "/run/mvf/status.sock", "the status socket (never in the kubelet dir)",
       Scope::kWorker, base::absolutePath()},
      {"grace-period", "5s", "SIGTERM to SIGKILL when stopping workers", Scope::kWorker,
       base::durationIn(10ms, 10min)},
      {"ready-timeout", "20s", "a worker not ready this long after its start is killed",
       Scope::kWorker, base::durationIn(10ms, 1h)},
      {"heartbeat-timeout", "15s", "a ready worker silent this long is killed", Scope::kWorker,
       base::durationIn(10ms, 1h)},
      {"restart-backoff", "500ms", "delay before the first restart after a failure", Scope::kWorker,
       base::durationIn(1ms, 1h)},
      {"restart-backoff-max", "30s", "longest delay before a restart", Scope::kWorker,
       base::durationIn(1ms, 1h)},
      {"stable-after", "10s", "ready this long, a worker that dies is restarted at once",
       Scope::kWorker, base::durationIn(1ms, 1h)},
      {"reset-after", "60s", "ready this long, a worker's failure count starts over",
       Scope::kWorker, base::durationIn(1ms, 24h)},
      {"crash-loop-threshold", "5", "consecutive failures that make a crash loop", Scope::kWorker,
       base::integerIn(1, 1000)},
  };
  options.insert(options.end(), own.begin(), own.end());
  return options;
}

std::variant<SupervisorConfig, std::string> makeSupervisorConfig(const base::Settings& settings,
                                                                 const std::string& selfDir) {
  SupervisorConfig config;
  for (const auto& name : settings.list("workers")) {
    if (std::find(config.workers.begin(), config.workers.end(), name) == config.workers.end()) {
      config.workers.push_back(name);
    }
  }
  config.workersDir = settings.has("workers-dir") ? settings.text("workers-dir") : selfDir;
  config.statusSocket = settings.text("status-socket");
  config.kubeletDir = settings.text("kubelet-dir");
  namespace fs = std::filesystem;
  auto statusDir = fs::path(config.statusSocket).parent_path().lexically_normal();
  auto kubeletDir = fs::path(config.kubeletDir).lexically_normal();
  if (statusDir == kubeletDir || statusDir.string().rfind(kubeletDir.string() + "/", 0) == 0) {
    return "invalid value '" + config.statusSocket +
           "' for status-socket: it must not be in the kubelet dir, which the kubelet empties "
           "of plain files when it starts";
  }
  if (config.statusSocket.size() > base::kMaxUnixPath) {
    return "invalid value '" + config.statusSocket + "' for status-socket: longer than the " +
           std::to_string(base::kMaxUnixPath) + " bytes a unix socket path may have";
  }
  // Passed on: the common options given as flags, and the config file however named.
  // Env vars the workers inherit, and the file they read themselves.
  for (const auto& option : commonWorkerOptions()) {
    if (!settings.has(option.name)) continue;
    bool flag = settings.source(option.name) == "--" + option.name;
    if (!flag && option.name != "config") continue;
    for (const auto& value : settings.list(option.name)) {
      config.workerArgs.push_back("--" + option.name);
      config.workerArgs.push_back(value);
    }
  }
  config.gracePeriod = settings.duration("grace-period");
  config.readyTimeout = settings.duration("ready-timeout");
  config.heartbeatTimeout = settings.duration("heartbeat-timeout");
  config.policy.initialDelay = settings.duration("restart-backoff");
  config.policy.maxDelay = settings.duration("restart-backoff-max");
  config.policy.stableAfter = settings.duration("stable-after");
  config.policy.resetAfter = settings.duration("reset-after");
  config.policy.crashLoopAt = static_cast<unsigned>(settings.integer("crash-loop-threshold"));
  return config;
}

core::ConfigCheck checkWorker(const std::string& name, const std::vector<std::string>& args) {
  const core::ResourceSpec* spec = specFor(name);
  if (spec == nullptr) return {false, "no worker named " + name};
  return core::checkConfig(*spec, args);
}

class Supervisor::Impl {
 public:
  Impl(SupervisorConfig config, std::vector<std::string> configArgs,
       std::unique_ptr<Launcher> launcher)
      : config_(std::move(config)),
        configArgs_(std::move(configArgs)),
        launcher_(std::move(launcher)),
        log_(base::logger("supervisor")) {
    std::random_device seed;
    random_.seed(seed());
    for (const auto* spec : knownWorkers()) {
      slots_.push_back(std::make_unique<Slot>(spec, makePolicy()));
    }
  }

  int run() {
    UniqueFd signals =
        base::blockedSignalFd({SIGCHLD, SIGTERM, SIGINT, SIGHUP}, /*nonBlocking=*/true);
    if (!signals) {
      log_->error("signalfd: {}", std::strerror(errno));
      return base::kExitFailure;
    }
    // Not PID 1: become the reaper of orphaned descendants anyway, as PID 1 would be.
    if (::getpid() != 1 && ::prctl(PR_SET_CHILD_SUBREAPER, 1) != 0) {
      log_->warn("prctl(PR_SET_CHILD_SUBREAPER): {}", std::strerror(errno));
    }
    std::string error = serveStatus();
    if (!error.empty()) {
      log_->error("cannot serve the status socket: {}", error);
      return base::kExitFailure;
    }
    log_->info("mvf-supervisor {} (pid {}): workers {} from {}; status on {}", base::kVersion,
               ::getpid(), join(config_.workers), config_.workersDir, config_.statusSocket);
    loop_.watchFd(signals.get(), [this, fd = signals.get()] { onSignals(fd); });
    applyWorkerList(config_.workers);
    loop_.run();
    server_->Shutdown(std::chrono::system_clock::now() + 500ms);
    ::unlink(config_.statusSocket.c_str());
    log_->info("stopped");
    return base::kExitOk;
  }

 private:
  RestartPolicy makePolicy() {
    return RestartPolicy(config_.policy, [this] {
      return std::uniform_real_distribution<double>(0.0, 1.0)(random_);
    });
  }

  static std::string join(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) out += (out.empty() ? "" : ",") + item;
    return out;
  }

  std::string serveStatus() {
    std::error_code ec;
    auto dir = std::filesystem::path(config_.statusSocket).parent_path();
    std::filesystem::create_directories(dir, ec);
    if (ec) return "mkdir " + dir.string() + ": " + ec.message();
    // A live supervisor already answering there is not ours to replace.
    if (base::probeUnixSocket(config_.statusSocket)) {
      return config_.statusSocket + " is served by another process";
    }
    grpc::ServerBuilder builder;
    builder.AddListeningPort("unix://" + config_.statusSocket, grpc::InsecureServerCredentials());
    builder.RegisterService(&status_);
    server_ = builder.BuildAndStart();
    if (!server_) return "cannot listen on " + config_.statusSocket;
    ::chmod(config_.statusSocket.c_str(), 0600);
    publish();
    return "";
  }

  // ---- signals and children ----

  void onSignals(int fd) {
    signalfd_siginfo info{};
    while (::read(fd, &info, sizeof(info)) == sizeof(info)) {
      switch (info.ssi_signo) {
        case SIGCHLD:
          reap();
          break;
        case SIGHUP:
          reload();
          break;
        default:
          stopAll(strsignal(static_cast<int>(info.ssi_signo)));
      }
    }
  }

  // Every child that exited, whoever it was: as PID 1 we inherit orphans too.
  void reap() {
    int status = 0;
    pid_t pid;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      Slot* slot = byPid(pid);
      if (slot == nullptr) {
        log_->info("reaped orphan pid {} ({})", pid, describeExit(status));
        continue;
      }
      onExit(*slot, status);
    }
  }

  Slot* byPid(pid_t pid) {
    for (auto& slot : slots_) {
      if (slot->pid == pid) return slot.get();
    }
    return nullptr;
  }

  static std::string describeExit(int status) {
    if (WIFSIGNALED(status)) {
      const char* name = sigabbrev_np(WTERMSIG(status));
      return std::string("killed by SIG") + (name ? name : std::to_string(WTERMSIG(status))) +
             (WCOREDUMP(status) ? " (core dumped)" : "");
    }
    return "exited with code " + std::to_string(WEXITSTATUS(status));
  }

  // ---- one worker's life ----

  void start(Slot& slot) {
    slot.restartTimer = 0;
    slot.restartWanted = false;
    auto check = core::checkConfig(*slot.spec, config_.workerArgs);
    if (!check.ok) {
      fail(slot, "configuration error: " + check.text + "; fix it and send SIGHUP");
      return;
    }
    slot.settings = check.text;
    int pipeFds[2];
    if (::pipe2(pipeFds, O_CLOEXEC | O_NONBLOCK) != 0) {
      auto decision = slot.policy.onDeath(Duration(0));
      log_->error("pipe2 for {}: {}; retrying in {}", slot.spec->name, std::strerror(errno),
                  seconds(decision.delay));
      scheduleRestart(slot, decision.delay);
      return;
    }
    UniqueFd readEnd(pipeFds[0]);
    UniqueFd writeEnd(pipeFds[1]);
    // The worker's end is blocking as handed over; it makes it non-blocking itself.
    ::fcntl(writeEnd.get(), F_SETFL, 0);
    std::vector<std::string> args = config_.workerArgs;
    args.insert(args.end(), {"--notify-fd", std::to_string(writeEnd.get())});
    std::string binary = config_.workersDir + "/mvf-worker-" + slot.spec->name;
    auto launched = launcher_->launch({binary, args, writeEnd.get()});
    if (auto* error = std::get_if<std::string>(&launched)) {
      fail(slot, *error + "; fix it and send SIGHUP");
      return;
    }
    slot.pid = std::get<pid_t>(launched);
    slot.events = std::move(readEnd);
    slot.buffer.clear();
    slot.startedAt = Clock::now();
    slot.ready = false;
    slot.killReason.clear();
    slot.state = State::starting;
    slot.status.set_pid(slot.pid);
    slot.status.set_started_at_unix_ms(unixMs());
    slot.status.set_ready_at_unix_ms(0);
    slot.status.set_next_restart_at_unix_ms(0);
    slot.status.set_registered(false);
    slot.status.clear_failed_reason();
    loop_.watchFd(slot.events.get(), [this, &slot] { readEvents(slot); });
    slot.readyTimer = loop_.after(config_.readyTimeout, [this, &slot] {
      slot.readyTimer = 0;
      kill(slot, "not ready within " + seconds(config_.readyTimeout));
    });
    log_->info("started {} (pid {})", slot.spec->name, slot.pid);
    publish();
  }

  void fail(Slot& slot, const std::string& reason) {
    log_->error("{}: {}; not restarting it", slot.spec->name, reason);
    slot.state = State::failed;
    slot.status.set_failed_reason(reason);
    slot.status.set_pid(0);
    publish();
  }

  void kill(Slot& slot, const std::string& reason) {
    if (slot.pid <= 0) return;
    log_->warn("killing {} (pid {}): {}", slot.spec->name, slot.pid, reason);
    slot.killReason = reason;
    ::kill(slot.pid, SIGKILL);
  }

  void readEvents(Slot& slot) {
    char chunk[4096];
    while (slot.events) {
      ssize_t n = ::read(slot.events.get(), chunk, sizeof(chunk));
      if (n > 0) {
        slot.buffer.append(chunk, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EAGAIN) break;
      // EOF: the worker is gone (its exit comes through SIGCHLD).
      loop_.unwatchFd(slot.events.get());
      slot.events.reset();
    }
    size_t newline;
    while ((newline = slot.buffer.find('\n')) != std::string::npos) {
      std::string line = slot.buffer.substr(0, newline);
      slot.buffer.erase(0, newline + 1);
      Event event;
      if (!google::protobuf::util::JsonStringToMessage(line, &event).ok()) {
        log_->warn("{}: ignoring a notify line that is not a worker event: {}", slot.spec->name,
                   line.substr(0, 200));
        continue;
      }
      onEvent(slot, event);
    }
    if (slot.buffer.size() > 64 * 1024) {
      log_->warn("{}: dropping {} bytes of notify output with no newline", slot.spec->name,
                 slot.buffer.size());
      slot.buffer.clear();
    }
  }

  void onEvent(Slot& slot, const Event& event) {
    switch (event.event()) {
      case Event::ready:
        slot.ready = true;
        slot.readyAt = Clock::now();
        slot.state = State::running;
        slot.status.set_ready_at_unix_ms(unixMs());
        loop_.cancel(slot.readyTimer);
        slot.readyTimer = 0;
        slot.stableTimer = loop_.after(config_.policy.resetAfter, [this, &slot] {
          slot.stableTimer = 0;
          if (slot.policy.onStable()) log_->info("{}: crash loop over", slot.spec->name);
          publish();
        });
        armHeartbeat(slot);
        log_->info("{} ready after {}", slot.spec->name, seconds(slot.readyAt - slot.startedAt));
        break;
      case Event::heartbeat:
        if (slot.ready) armHeartbeat(slot);
        return;  // nothing to publish
      case Event::registered:
        slot.status.set_registered(true);
        slot.status.set_times_registered(slot.status.times_registered() + 1);
        break;
      case Event::unregistered:
        slot.status.set_registered(false);
        break;
      case Event::devices:
        slot.status.set_devices_total(event.total());
        slot.status.set_devices_healthy(event.healthy());
        break;
      default:
        return;
    }
    publish();
  }

  void armHeartbeat(Slot& slot) {
    loop_.cancel(slot.heartbeatTimer);
    slot.heartbeatTimer = loop_.after(config_.heartbeatTimeout, [this, &slot] {
      slot.heartbeatTimer = 0;
      kill(slot, "no heartbeat for " + seconds(config_.heartbeatTimeout));
    });
  }

  void onExit(Slot& slot, int status) {
    // What it said last, before its pipe goes.
    if (slot.events) readEvents(slot);
    if (slot.events) loop_.unwatchFd(slot.events.get());
    slot.events.reset();
    for (auto* timer : {&slot.readyTimer, &slot.heartbeatTimer, &slot.stableTimer}) {
      loop_.cancel(*timer);
      *timer = 0;
    }
    auto now = Clock::now();
    auto* exit = slot.status.mutable_last_exit();
    exit->Clear();
    exit->set_signaled(WIFSIGNALED(status));
    if (WIFSIGNALED(status)) {
      exit->set_signal(WTERMSIG(status));
      const char* name = sigabbrev_np(WTERMSIG(status));
      exit->set_signal_name(name ? std::string("SIG") + name : "");
      exit->set_core_dumped(WCOREDUMP(status));
    } else {
      exit->set_exit_code(WEXITSTATUS(status));
    }
    exit->set_at_unix_ms(unixMs());
    exit->set_reason(slot.killReason);
    exit->set_uptime_ms(
        std::chrono::duration_cast<std::chrono::milliseconds>(now - slot.startedAt).count());
    std::string what = describeExit(status) + " after " + seconds(now - slot.startedAt) +
                       (slot.killReason.empty() ? "" : " (" + slot.killReason + ")");
    slot.pid = 0;
    slot.status.set_pid(0);
    slot.status.set_registered(false);

    if (stopping_ || !slot.enabled) {
      log_->info("{} {}", slot.spec->name, what);
      slot.state = slot.enabled ? State::stopping : State::unspecified;
      publish();
      if (stopping_) finishIfAllStopped();
      return;
    }
    if (slot.restartWanted) {
      log_->info("{} {}; starting it with its new settings", slot.spec->name, what);
      start(slot);
      return;
    }
    if (!WIFSIGNALED(status) && WEXITSTATUS(status) == base::kExitConfig) {
      log_->error("{} {}", slot.spec->name, what);
      fail(slot, "configuration error (exit 78, see its log); fix it and send SIGHUP");
      return;
    }
    Duration readyFor =
        slot.ready ? std::chrono::duration_cast<Duration>(now - slot.readyAt) : Duration(0);
    auto decision = slot.policy.onDeath(readyFor);
    log_->warn("{} {}; restarting {} (failure {} in a row)", slot.spec->name, what,
               decision.delay.count() == 0 ? std::string("now") : "in " + seconds(decision.delay),
               decision.failures);
    if (decision.crashLoopStarted) {
      log_->error("{} is crash looping: {} consecutive failures", slot.spec->name,
                  decision.failures);
    }
    scheduleRestart(slot, decision.delay);
  }

  void scheduleRestart(Slot& slot, Duration delay) {
    slot.state = State::backoff;
    slot.status.set_restarts(slot.status.restarts() + 1);
    slot.status.set_next_restart_at_unix_ms(unixMs() + delay.count());
    slot.restartTimer = loop_.after(delay, [this, &slot] { start(slot); });
    publish();
  }

  // ---- the set of workers ----

  void applyWorkerList(const std::vector<std::string>& enabled) {
    for (auto& slot : slots_) {
      bool wanted = std::find(enabled.begin(), enabled.end(), slot->spec->name) != enabled.end();
      if (wanted && !slot->enabled) {
        slot->enabled = true;
        slot->policy = makePolicy();
        start(*slot);
      } else if (!wanted && slot->enabled) {
        slot->enabled = false;
        loop_.cancel(slot->restartTimer);
        slot->restartTimer = 0;
        if (slot->pid > 0) {
          log_->info("stopping {}: no longer in --workers", slot->spec->name);
          ::kill(slot->pid, SIGTERM);
        }
        slot->state = State::unspecified;
      }
    }
    publish();
  }

  void reload() {
    log_->info("SIGHUP: re-reading the configuration");
    auto parsed = base::parseOptions(supervisorOptions(), "supervisor", configArgs_);
    if (auto* error = std::get_if<std::string>(&parsed)) {
      log_->error("keeping the current configuration: {}", *error);
      return;
    }
    auto config =
        makeSupervisorConfig(std::get<base::ParsedOptions>(parsed).settings, config_.workersDir);
    if (auto* error = std::get_if<std::string>(&config)) {
      log_->error("keeping the current configuration: {}", *error);
      return;
    }
    std::vector<std::string> enabled = std::get<SupervisorConfig>(config).workers;
    config_.workerArgs = std::get<SupervisorConfig>(config).workerArgs;
    for (auto& slot : slots_) {
      if (!slot->enabled) continue;
      if (slot->state == State::failed) {
        log_->info("{}: trying again after SIGHUP", slot->spec->name);
        slot->policy = makePolicy();
        start(*slot);
        continue;
      }
      auto check = core::checkConfig(*slot->spec, config_.workerArgs);
      if (!check.ok) {
        log_->error("{}: the new configuration is not valid, keeping it as it runs: {}",
                    slot->spec->name, check.text);
      } else if (check.text != slot->settings) {
        log_->info("{}: settings changed; restarting it", slot->spec->name);
        if (slot->pid > 0) {
          slot->restartWanted = true;
          slot->state = State::stopping;
          ::kill(slot->pid, SIGTERM);
        } else {
          loop_.cancel(slot->restartTimer);
          start(*slot);
        }
      }
    }
    applyWorkerList(enabled);
  }

  void stopAll(const std::string& why) {
    if (stopping_) return;
    stopping_ = true;
    log_->info("{}: stopping every worker", why);
    for (auto& slot : slots_) {
      loop_.cancel(slot->restartTimer);
      slot->restartTimer = 0;
      if (slot->pid > 0) {
        slot->state = State::stopping;
        ::kill(slot->pid, SIGTERM);
      }
    }
    publish();
    loop_.after(config_.gracePeriod, [this] {
      for (auto& slot : slots_) {
        if (slot->pid <= 0) continue;
        log_->warn("{} still runs after {}; SIGKILL", slot->spec->name,
                   seconds(config_.gracePeriod));
        ::kill(slot->pid, SIGKILL);
        killedHard_.push_back(slot->spec->name);
      }
    });
    finishIfAllStopped();
  }

  void finishIfAllStopped() {
    for (auto& slot : slots_) {
      if (slot->pid > 0) return;
    }
    // A worker killed hard could not remove its socket: remove it if nobody answers.
    for (const auto& name : killedHard_) {
      std::string socket = config_.kubeletDir + "/" + name + ".sock";
      auto probe = base::probeUnixSocket(socket);
      if (!probe && probe.error().code == ECONNREFUSED) ::unlink(socket.c_str());
    }
    loop_.stop();
  }

  // ---- status ----

  void publish() {
    v1::SupervisorStatus status;
    status.set_version(base::kVersion);
    status.set_pid(::getpid());
    bool ok = true;
    for (auto& slot : slots_) {
      if (!slot->enabled) continue;
      slot->status.set_state(slot->state);
      slot->status.set_consecutive_failures(slot->policy.failures());
      slot->status.set_crash_looping(slot->policy.crashLooping());
      *status.add_workers() = slot->status;
      ok = ok && slot->state == State::running && slot->status.registered();
    }
    status.set_overall(ok ? v1::SupervisorStatus::ok : v1::SupervisorStatus::degraded);
    status_.publish(std::move(status));
  }

  SupervisorConfig config_;
  const std::vector<std::string> configArgs_;
  std::unique_ptr<Launcher> launcher_;
  std::shared_ptr<spdlog::logger> log_;
  std::mt19937 random_;
  EventLoop loop_;
  StatusService status_;
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::unique_ptr<Slot>> slots_;
  bool stopping_ = false;
  std::vector<std::string> killedHard_;
};

Supervisor::Supervisor(SupervisorConfig config, std::vector<std::string> configArgs,
                       std::unique_ptr<Launcher> launcher)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(configArgs), std::move(launcher))) {
}

Supervisor::~Supervisor() = default;

int Supervisor::run() { return impl_->run(); }

}  // namespace mvf::supervisor
