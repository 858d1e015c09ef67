// The balloon driver (Xen's xen-balloon): it watches memory/target (KiB, in the domain's
// store home) and moves the domain's reservation toward it, taking free pages from the
// page allocator and giving them to the host (inflate) or taking them back (deflate).
#pragma once

#include <stdint.h>

namespace domus::guest::balloon {

// Reaches the target once, synchronously (a domain created with memory < maxmem is
// ballooned down before main()), then watches memory/target. In a thread, after
// init_xenbus; does nothing without a store.
void start();

struct Stats {
    uint64_t current_kib; // the reservation (what the host gives the domain)
    uint64_t target_kib; // the last target read (0: none yet)
    uint64_t ballooned_kib; // what the balloon holds
};
Stats stats();

} // namespace domus::guest::balloon
