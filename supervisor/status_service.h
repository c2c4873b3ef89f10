#pragma once

#include <chrono>
#include <mutex>

#include "proto/supervisor.grpc.pb.h"

namespace mvf::supervisor {

// mvf.supervisor.v1.Supervisor/GetStatus. The supervisor's loop publishes a snapshot
// after every change; a call copies the newest one, so answering never waits on the
// loop (a supervisor busy restarting workers still answers its liveness probe).
class StatusService final : public v1::Supervisor::CallbackService {
 public:
  void publish(v1::SupervisorStatus status);

  grpc::ServerUnaryReactor* GetStatus(grpc::CallbackServerContext* context,
                                      const v1::GetStatusRequest* request,
                                      v1::SupervisorStatus* response) override;

 private:
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  v1::SupervisorStatus status_;
};

}  // namespace mvf::supervisor
