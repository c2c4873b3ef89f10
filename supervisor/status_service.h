#pragma once

#include <chrono>
#include <mutex>

#include "proto/supervisor.grpc.pb.h"
#include "rpc/async_server.h"

namespace mvf::supervisor {

// mvf.supervisor.v1.Supervisor/GetStatus. The supervisor's loop publishes a snapshot
// after every change; a call copies the newest one, so answering never waits on the
// loop (a supervisor busy restarting workers still answers its liveness probe).
class StatusService {
 public:
  // For the server to register, before serve().
  grpc::Service* service() { return &service_; }
  // Answers GetStatus on `server`, built with service(), until it stops.
  void serve(rpc::AsyncServer& server);

  void publish(v1::SupervisorStatus status);
  // The newest snapshot, with the supervisor's uptime now.
  v1::SupervisorStatus status();

 private:
  // GetStatus raw, for rpc::serveUnary to parse.
  v1::Supervisor::WithRawMethod_GetStatus<v1::Supervisor::Service> service_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  v1::SupervisorStatus status_;
};

}  // namespace mvf::supervisor
