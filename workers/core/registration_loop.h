#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "base/file_id.h"
#include "base/options.h"
#include "base/result.h"
#include "base/timers.h"

namespace mvf::core {

using base::FileId;

// Keeps a worker served and registered with the kubelet (docs/architecture.md, "The
// registration loop"): it serves the worker's socket first, because the kubelet dials
// back inside Register; registers; and registers again after every kubelet restart,
// retrying with backoff while the kubelet or its plugin dir is absent — it waits, never
// gives up. A state machine on the worker's loop thread: its inputs are the methods below
// (events the worker saw), its outputs calls on Effects, its time only through Timers.
//
//   kNotServing ──listen ok──> (register) ──> kRegistering ──ok──> kRegistered
//       ^  retry every backoffMax    |  no kubelet.sock           | failed    |
//       |                            v                            v           |
//       +── own socket removed ── kWaitingForKubelet / kBackoff <──── kubelet gone
class RegistrationLoop {
 public:
  enum class State {
    kNotServing,         // our socket is not listening (plugin dir missing, path busy)
    kWaitingForKubelet,  // serving; there is no kubelet.sock to register with
    kRegistering,        // Register in flight
    kBackoff,            // serving, not registered: an attempt is due (after a failure, a
                         // lost kubelet, or a Register begun before our socket was lost)
    kRegistered,         // the kubelet knows us and streams our list
    kStopped,
  };

  // What the loop acts on: in the worker, its ListeningSocket, Registrar, StreamHub and
  // Notifier; in tests, a fake that records the calls.
  class Effects {
   public:
    virtual ~Effects() = default;
    // Listens on our socket in the plugin dir. Error codes: ENOENT — the plugin dir does
    // not exist; EADDRINUSE — another process answers on the path (never taken over).
    virtual base::Status listen() = 0;
    virtual void stopListening() = 0;
    // Whether the file at our socket path is still the socket we bound.
    virtual bool ownsSocket() const = 0;
    // kubelet.sock's identity, or nullopt when there is none.
    virtual std::optional<FileId> kubeletSocket() const = 0;
    // Ends every open ListAndWatch stream; streams opened from now on belong to
    // `generation`. Before a new registration this matters: the kubelet marks a resource
    // unhealthy when an old stream ends after a new registration (docs/architecture.md, "What the
    // kubelet does").
    virtual void endStreams(uint64_t generation) = 0;
    // Starts Register; the worker calls registerDone() with its outcome: ok, or an Error
    // whose code is gRPC's status code (1, CANCELLED, for a cancelled call).
    virtual void startRegister() = 0;
    // Cancels the Register in flight; registerDone() still follows, once, with whatever
    // outcome the call had (ok if the answer came first).
    virtual void cancelRegister() = 0;
    // Reports: serving (or waiting for the plugin dir) for the first time; registered;
    // no longer registered, and why.
    virtual void ready() = 0;
    virtual void registered() = 0;
    virtual void unregistered(const std::string& why) = 0;
  };

  struct Config {
    std::string socketPath;     // for log lines
    std::string kubeletSocket;  // for log lines
    std::string resourceName;   // for log lines
    base::Duration backoffInitial{50};
    base::Duration backoffMax{5000};  // also the retry period while not serving
    // How long a Register may take before it is cancelled and counted as failed. Inside
    // Register the kubelet dials us back (10 s at most) and then asks GetDevicePluginOptions
    // with no deadline (docs/architecture.md, "What the kubelet does").
    base::Duration registerTimeout{15000};
  };

  RegistrationLoop(Config config, base::Timers& timers, Effects& effects);
  ~RegistrationLoop();
  RegistrationLoop(const RegistrationLoop&) = delete;
  RegistrationLoop& operator=(const RegistrationLoop&) = delete;

  // Serve, then register.
  void start();
  // inotify: kubelet.sock was created (or moved in): the kubelet (re)started.
  void kubeletSocketCreated();
  // inotify: our socket file (or the whole plugin dir) was removed, as a restarting
  // kubelet does; an event about a file that is not ours any more is ignored.
  void ownSocketRemoved();
  // The kubelet's ListAndWatch stream of registration `generation` ended by its doing.
  void kubeletStreamEnded(uint64_t generation);
  // The outcome of the Register that startRegister() began.
  void registerDone(const base::Status& status);
  // The safety net behind inotify (resync, polling, SIGHUP): our socket must still be
  // ours, and the kubelet.sock we registered with still the same file.
  void check();
  // Cancels a Register in flight, stops listening and every timer.
  void stop();

  State state() const { return state_; }
  // Of registration attempts; streams carry the one they began in.
  uint64_t generation() const { return generation_; }
  unsigned failures() const { return failures_; }

 private:
  void serve();
  void requestRegistration();
  void scheduleRetry(const std::string& why, State next);
  void stopListening();
  void becomeUnregistered(const std::string& why);
  void setTimer(base::Timers::Clock::duration delay, void (RegistrationLoop::*then)());
  void registerTimedOut();
  bool listening() const { return state_ != State::kNotServing && state_ != State::kStopped; }

  const Config config_;
  base::Timers& timers_;
  Effects& effects_;
  State state_ = State::kNotServing;
  bool readyReported_ = false;
  bool registerInFlight_ = false;
  bool registerWanted_ = false;    // a trigger came while Register was in flight
  bool registerTimedOut_ = false;  // the Register in flight was cancelled for taking too long
  unsigned failures_ = 0;          // consecutive registration failures
  uint64_t generation_ = 0;
  std::optional<FileId> registeringWith_;  // kubelet.sock when the last Register began
  std::optional<FileId> registeredWith_;
  std::string serveProblem_;                 // the last "cannot serve" reason logged
  base::Timers::TimerId timer_ = 0;          // serve, retry or backoff
  base::Timers::TimerId registerTimer_ = 0;  // the Register in flight's timeout
};

const char* toString(RegistrationLoop::State state);

}  // namespace mvf::core
