#pragma once

#include <grpcpp/support/status.h>

#include <cstddef>

#include "proto/deviceplugin.pb.h"

namespace mvf::core {

// How large a request a worker answers at all. Each bound is far above what a real node
// sends, so the kubelet never meets one; a request beyond any of them is refused with
// INVALID_ARGUMENT before any work is done, so a client cannot make a worker spend its
// CPU on, or quote back, input no kubelet would send.
struct RequestLimits {
  // Container requests in one Allocate or GetPreferredAllocation. The kubelet sends
  // exactly one (devicemanager v1.32: allocateContainerResources and
  // callGetPreferredAllocationIfAvailable, one container each); 64 leaves room for
  // `mvfctl allocate`, which sends one per argument.
  size_t containerRequests = 64;
  // Device IDs in one request, over all its container requests (and, in
  // GetPreferredAllocation, in each of its available and must-include lists; also the
  // largest allocation_size). The kubelet names only IDs it was given, each once, and a
  // worker advertises at most 10000 (--shared-count's maximum; exclusive lists are a
  // node's devices, a few hundred at most).
  size_t ids = 10000;
  // Bytes in one device ID. The longest IDs a worker advertises are USB port paths,
  // "usb-" and at most 3 + 1 + 7 × 4 bytes (a bus number, and a port per tier of USB's
  // seven), under 40 bytes.
  size_t idLength = 128;
};

// OK when `request` is within `limits`, else INVALID_ARGUMENT saying which limit it
// exceeds and by how much. Reads only sizes: its cost is one pass over the IDs.
grpc::Status checkRequest(const v1beta1::AllocateRequest& request, const RequestLimits& limits);

// The same for GetPreferredAllocation, whose allocation_size must also lie in
// 0..limits.ids.
grpc::Status checkRequest(const v1beta1::PreferredAllocationRequest& request,
                          const RequestLimits& limits);

}  // namespace mvf::core
