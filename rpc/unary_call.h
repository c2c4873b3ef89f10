#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>

namespace mvf::rpc {

// Makes one unary call and waits for its outcome until `deadline`, with no deadline on the
// wire. A deadline would go out as grpc-timeout, and the server would arm a gRPC timer for
// it: one timer is enough to set a timer shard of that process waking on a phase of its
// own, once a second for good (README, "Idle and memory"). The kubelet sends none either
// (grpc-go with context.Background()).
//
// `start(grpc::ClientContext*, grpc::CompletionQueue*)` begins the call and returns its
// reader: a stub's Async<Method>. Returns the call's status; at `deadline` the call is
// cancelled and the status is DEADLINE_EXCEEDED "Deadline Exceeded", as gRPC's own
// deadline reads. `response` holds the answer only when the status is OK.
template <typename Response, typename Start>
grpc::Status callUntil(std::chrono::system_clock::time_point deadline, Start start,
                       Response* response) {
  grpc::ClientContext context;
  grpc::CompletionQueue queue;
  grpc::Status status;
  auto reader = start(&context, &queue);
  reader->Finish(response, &status, &status);
  void* tag = nullptr;
  bool ok = false;
  if (queue.AsyncNext(&tag, &ok, deadline) != grpc::CompletionQueue::GOT_EVENT) {
    context.TryCancel();
    queue.Next(&tag, &ok);  // Finish completes: cancelled, or the answer if it came first
    if (status.error_code() == grpc::StatusCode::CANCELLED) {
      status = grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "Deadline Exceeded");
    }
  }
  queue.Shutdown();
  while (queue.Next(&tag, &ok)) {
  }
  return status;
}

}  // namespace mvf::rpc
