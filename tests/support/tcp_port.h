#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"

namespace mvf::testing {

// A TCP socket bound to a port of 127.0.0.1 the kernel chose free, listening when asked:
// a port to serve on once `fd` is let go, or one already taken while it is held.
struct TcpPort {
  base::UniqueFd fd;
  int number = 0;
};

// The port, or an Error saying why none could be bound.
inline base::Result<TcpPort> bindFreePort(bool listen) {
  TcpPort port{base::UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), 0};
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (!port.fd ||
      ::bind(port.fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(port.fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0 ||
      (listen && ::listen(port.fd.get(), 1) != 0)) {
    return base::Error{std::string("cannot bind a port of 127.0.0.1: ") + std::strerror(errno),
                       errno};
  }
  port.number = ntohs(address.sin_port);
  return port;
}

}  // namespace mvf::testing
