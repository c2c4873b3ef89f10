// mvf-bare-grpc-server: the floor the plugin's idle CPU, wakeups and memory are held
// against (README, "Benchmark"). A gRPC server built the way the workers are (Debian's
// grpc++ 1.51, our generated DevicePlugin code, the same compiler flags, and the runtime
// settings every daemon of ours starts with, base::tuneRuntime()) that does the least a
// device plugin can: one AsyncService, one ListAndWatch call requested, and a
// thread blocked on the completion queue without a timeout. What it wakes for, and what
// it maps, are gRPC's own.
//
//   mvf-bare-grpc-server SOCKET_PATH    serves until SIGTERM
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <thread>

#include "base/runtime.h"
#include "proto/deviceplugin.grpc.pb.h"

int main(int argc, char** argv) {
  mvf::base::tuneRuntime();
  if (argc != 2) {
    std::fprintf(stderr, "usage: mvf-bare-grpc-server SOCKET_PATH\n");
    return 2;
  }
  v1beta1::DevicePlugin::AsyncService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(std::string("unix://") + argv[1], grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  auto queue = builder.AddCompletionQueue();
  auto server = builder.BuildAndStart();
  if (!server) {
    std::fprintf(stderr, "mvf-bare-grpc-server: cannot serve on %s\n", argv[1]);
    return 1;
  }
  grpc::ServerContext context;
  v1beta1::Empty request;
  grpc::ServerAsyncWriter<v1beta1::ListAndWatchResponse> writer(&context);
  int requested = 0;
  service.RequestListAndWatch(&context, &request, &writer, queue.get(), queue.get(), &requested);

  // SIGTERM ends it: a thread waits for the signal and shuts the server down.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  std::thread waiter([&] {
    int signal = 0;
    sigwait(&stop, &signal);
    server->Shutdown();
    queue->Shutdown();
  });
  void* tag = nullptr;
  bool ok = false;
  while (queue->Next(&tag, &ok)) {
  }
  waiter.join();
  return 0;
}
