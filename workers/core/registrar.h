#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "rpc/async_server.h"

namespace mvf::core {

// Calls Registration/Register on the kubelet's socket, asynchronously, so the worker's
// loop keeps handling signals and inotify while the kubelet dials back (up to 10 s).
// Every attempt connects to kubelet.sock itself and runs a direct channel over that
// connection: nothing is shared with an earlier attempt, and gRPC never reconnects (a
// reused channel would sit out gRPC's reconnect backoff after the kubelet restarts).
class Registrar {
 public:
  Registrar(std::string kubeletSocket, std::string resourceName, std::string endpoint);
  ~Registrar();

  // Starts one attempt on `server`'s completion queue; `done` runs on its thread with the
  // outcome. It runs at once, on the caller's thread, when the attempt cannot start:
  // UNAVAILABLE with the error of connecting to kubelet.sock ("connect(PATH): Connection
  // refused"), or CANCELLED if the server is stopping. One attempt at a time: the caller
  // waits for `done` before starting another.
  void start(rpc::AsyncServer& server, std::function<void(grpc::Status)> done);

  // Cancels the attempt in flight, if any; its `done` still runs (CANCELLED). The call
  // has no deadline of its own: this is how the caller (RegistrationLoop) times it out.
  void cancel();

  // Destruction cancels and waits for the attempt in flight, so `done` never outlives it:
  // the server's queue must still be served, or already drained, by then.

 private:
  class Attempt;
  const std::string kubeletSocket_;
  const std::string resourceName_;
  const std::string endpoint_;
  std::mutex mu_;
  std::condition_variable idle_;
  std::shared_ptr<Attempt> current_;
};

}  // namespace mvf::core
