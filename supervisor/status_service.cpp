#include "supervisor/status_service.h"

namespace mvf::supervisor {

void StatusService::serve(rpc::AsyncServer& server) {
  rpc::serveUnary(
      server, service_, &decltype(service_)::RequestGetStatus,
      [this](grpc::ServerContext&, const v1::GetStatusRequest&, v1::SupervisorStatus* response) {
        *response = status();
        return grpc::Status::OK;
      });
}

void StatusService::publish(v1::SupervisorStatus status) {
  std::lock_guard lock(mu_);
  status_ = std::move(status);
}

v1::SupervisorStatus StatusService::status() {
  v1::SupervisorStatus copy;
  {
    std::lock_guard lock(mu_);
    copy = status_;
  }
  copy.set_uptime_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::steady_clock::now() - started_)
                         .count());
  return copy;
}

}  // namespace mvf::supervisor
