// What every XenBus frontend does with its device directories (PV ABI reference 10):
// read decimal nodes, write its own state, and wait for the backend's state during the
// handshake. Used by blkfront and consfront. Thread context.
#pragma once

#include <stdint.h>

namespace domus::guest::xenbus_device {

// A decimal store value at dir/node; `fallback` when absent, empty or not a number.
uint64_t read_number(const char* dir, const char* node, uint64_t fallback);

// Writes dir/state. 0 or a negative errno.
int write_state(const char* dir, int state);

// The backend's state (XenbusStateUnknown when the node is gone).
int backend_state(const char* backend_dir);

// Waits until the backend in backend_dir reaches at least `want`, or timeout_ns passed.
// Returns the state seen, or -ETIMEDOUT. `state_gen` is bumped by the caller's watch on
// the backend's state: the wait looks again at once when it moved, otherwise every 2 ms
// (the kernel has no timed wait queue).
int wait_backend(const char* backend_dir, const uint32_t* state_gen, int want, uint64_t timeout_ns);

// Publishes a frontend's nodes and state = Initialised in one transaction (redone when
// it conflicts). 0 or a negative errno.
struct Node {
    const char* name;
    char value[24];
};
int publish_initialised(const char* dir, const Node* nodes, unsigned count);

} // namespace domus::guest::xenbus_device
