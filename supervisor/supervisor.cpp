#include "supervisor/supervisor.h"

#include <algorithm>
#include <cerrno>

#include "base/logging.h"
#include "base/unix_socket.h"
#include "base/version.h"
#include "catalog/catalog.h"

namespace mvf::supervisor {

Supervisor::Supervisor(SupervisorConfig config, Deps deps)
    : config_(std::move(config)), deps_(std::move(deps)) {
  for (const auto& name : catalog::resources()) {
    slots_.push_back(
        std::make_unique<WorkerSlot>(name, config_.slotConfig(name),
                                     WorkerSlot::Deps{.timers = deps_.timers,
                                                      .fds = deps_.fds,
                                                      .launcher = deps_.launcher,
                                                      .random = deps_.random,
                                                      .settingsOf = deps_.settingsOf,
                                                      .changed = [this] { publish(); }}));
  }
}

void Supervisor::start() { applyWorkerList(config_.workers); }

void Supervisor::applyWorkerList(const std::vector<std::string>& enabled) {
  for (auto& slot : slots_) {
    bool wanted = std::find(enabled.begin(), enabled.end(), slot->name()) != enabled.end();
    if (wanted && !slot->enabled()) {
      retired_.erase(slot->name());
      slot->enable();
    } else if (!wanted && slot->enabled()) {
      base::logger("supervisor")->info("stopping {}: no longer in workers", slot->name());
      slot->disable();
    }
    retireIfGone(*slot);
  }
  publish();
}

void Supervisor::retireIfGone(const WorkerSlot& slot) {
  if (stopping_ || slot.enabled() || slot.pid() > 0) return;
  if (retired_.insert(slot.name()).second)
    deps_.retire(slot.name(), config_.slotConfig(slot.name()));
}

void Supervisor::childExited(pid_t pid, int waitStatus) {
  auto it = std::find_if(slots_.begin(), slots_.end(),
                         [pid](const auto& slot) { return slot->pid() == pid; });
  if (it == slots_.end()) {
    base::logger("supervisor")->info("reaped orphan pid {} ({})", pid, describeExit(waitStatus));
    return;
  }
  (*it)->onExit(waitStatus);
  retireIfGone(**it);
  if (stopping_) finishIfAllStopped();
}

void Supervisor::reload() {
  if (stopping_) return;
  base::logger("supervisor")->info("SIGHUP: re-reading the configuration");
  auto reread = deps_.reread();
  if (!reread) {
    base::logger("supervisor")
        ->error("keeping the current configuration: {}", reread.error().message);
    return;
  }
  // Where workers are and how the supervisor itself runs stay as started.
  config_.workers = reread.value().workers;
  config_.commonArgs = reread.value().commonArgs;
  config_.workerArgs = reread.value().workerArgs;
  for (auto& slot : slots_) slot->reload(config_.slotConfig(slot->name()));
  applyWorkerList(config_.workers);
}

void Supervisor::stopAll(const std::string& why) {
  if (stopping_) return;
  stopping_ = true;
  base::logger("supervisor")->info("{}: stopping every worker", why);
  for (auto& slot : slots_) {
    if (slot->enabled()) slot->disable();
  }
  deps_.timers.after(config_.gracePeriod, [this] {
    auto grace = std::chrono::duration<double>(config_.gracePeriod).count();
    for (auto& slot : slots_) {
      if (slot->pid() > 0) {
        slot->killIfRunning(fmt::format("still running {:.1f}s after SIGTERM", grace));
      }
    }
  });
  finishIfAllStopped();
}

void Supervisor::finishIfAllStopped() {
  if (finished_) return;
  for (auto& slot : slots_) {
    if (slot->pid() > 0) return;
  }
  finished_ = true;
  // A worker killed hard could not remove its socket: remove it if nobody answers.
  for (auto& slot : slots_) {
    if (!slot->killedHard()) continue;
    std::string socket = config_.kubeletDir + "/" + slot->name() + ".sock";
    auto probe = base::probeUnixSocket(socket);
    if (!probe && probe.error().code == ECONNREFUSED) ::unlink(socket.c_str());
  }
  deps_.stopped();
}

v1::SupervisorStatus Supervisor::status() const {
  v1::SupervisorStatus status;
  status.set_version(base::kVersion);
  status.set_pid(::getpid());
  bool ok = true;
  for (const auto& slot : slots_) {
    if (!slot->enabled() && slot->pid() == 0) continue;
    *status.add_workers() = slot->status();
    ok = ok && slot->status().state() == v1::WorkerStatus::running && slot->status().registered();
  }
  status.set_overall(ok ? v1::SupervisorStatus::ok : v1::SupervisorStatus::degraded);
  return status;
}

void Supervisor::publish() { deps_.publish(status()); }

}  // namespace mvf::supervisor
