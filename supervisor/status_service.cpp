#include "supervisor/status_service.h"

namespace mvf::supervisor {

void StatusService::publish(v1::SupervisorStatus status) {
  std::lock_guard lock(mu_);
  status_ = std::move(status);
}

grpc::ServerUnaryReactor* StatusService::GetStatus(grpc::CallbackServerContext* context,
                                                   const v1::GetStatusRequest*,
                                                   v1::SupervisorStatus* response) {
  {
    std::lock_guard lock(mu_);
    *response = status_;
  }
  response->set_uptime_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - started_)
                              .count());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace mvf::supervisor
