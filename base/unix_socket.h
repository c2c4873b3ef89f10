#pragma once

#include <sys/types.h>

#include <functional>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace mvf::base {

// sun_path holds 108 bytes with the terminating NUL.
constexpr size_t kMaxUnixPath = 107;

// Connects to a unix socket without blocking (a non-blocking AF_UNIX connect() never
// returns EINPROGRESS: it answers at once): the connected, non-blocking, close-on-exec
// fd, or an Error whose code is the errno — ECONNREFUSED for a stale socket file nobody
// listens on, EAGAIN when the listener's backlog is full (it is alive, but there is no
// connection to keep), ENAMETOOLONG past kMaxUnixPath.
Result<UniqueFd> connectUnix(const std::string& path);

// Whether something listens on a unix socket: ok when it does (a full backlog included),
// else connectUnix()'s Error.
Status probeUnixSocket(const std::string& path);

// socket() + bind() + listen(), non-blocking and close-on-exec: the listening fd, or an
// Error "bind(/path): Address already in use" whose code is the errno.
Result<UniqueFd> listenUnix(const std::string& path);

// Owns a listening unix socket at a path: binds and accepts itself and hands each
// connection on (a gRPC server takes it with grpc::AddInsecureChannelFromFd). So gRPC
// never unlinks the path on our behalf (it would, by name: possibly another instance's
// fresh socket), and a connection costs gRPC no handshake: a listening port of gRPC's own
// arms a 120 s handshake timer for each, and one timer is enough to set a timer shard
// waking on a phase of its own (README, "Idle and memory"). An existing socket file is
// replaced only when nobody answers on it; close() removes the file only while it is
// still our inode.
class ListeningSocket {
 public:
  // What listen() does with a file at the path that is not a socket (a plain file, a
  // symlink): remove it, where the whole path is ours (a worker's socket in the kubelet's
  // plugin dir, which the kubelet itself cleans), or refuse, where an operator chose the
  // path and a typo must not cost a file (the supervisor's --status-socket).
  enum class NonSocket { kRemove, kRefuse };

  // `take` (not empty) gets each accepted connection: a non-blocking, close-on-exec fd
  // it owns. Not thread-safe: one thread calls the methods below at a time.
  ListeningSocket(std::string path, std::function<void(int)> take, NonSocket nonSocket);
  ~ListeningSocket();
  ListeningSocket(const ListeningSocket&) = delete;
  ListeningSocket& operator=(const ListeningSocket&) = delete;

  // Binds and listens, mode 0600. Error codes: ENOENT — the directory does not exist
  // (yet); EADDRINUSE — another process answers on the path (never taken over); EEXIST —
  // a file that is not a socket is there, with NonSocket::kRefuse; EISDIR — a directory
  // is there; others — the failing call's errno.
  Status listen();

  bool listening() const { return static_cast<bool>(fd_); }
  int fd() const { return fd_.get(); }

  // Accepts every pending connection and hands it to `take`.
  void acceptPending();

  // Whether the file at the path is still the socket we bound.
  bool ownsPath() const;

  // Stops listening and removes the file if it is still ours.
  void close();

 private:
  const std::string path_;
  const std::function<void(int)> take_;
  const NonSocket nonSocket_;
  UniqueFd fd_;
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace mvf::base
