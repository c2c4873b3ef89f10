#pragma once

#include <grpcpp/server.h>
#include <sys/types.h>

#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace mvf::core {

// Owns the worker's socket in the kubelet's plugin dir. It binds and accepts itself and
// hands each connection to the gRPC server (which has no listening port of its own), so
// that nothing ever unlinks the path on our behalf: gRPC would unlink by name, possibly
// another instance's fresh socket. An existing socket file is replaced only when nobody
// answers on it, and close() removes the file only while it is still our inode.
class PluginSocket {
 public:
  PluginSocket(std::string path, grpc::Server& server);
  ~PluginSocket();

  // Binds and listens. Error codes: ENOENT — the plugin dir does not exist (yet);
  // EADDRINUSE — another process answers on the path (never taken over); others — the
  // failing call's errno.
  base::Status listen();

  bool listening() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }

  // Accepts every pending connection and gives it to the gRPC server.
  void acceptPending();

  // Whether the file at the path is still the socket we bound.
  bool ownsPath() const;

  // Stops listening and removes the file if it is still ours.
  void close();

 private:
  const std::string path_;
  grpc::Server& server_;
  base::UniqueFd fd_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace mvf::core
