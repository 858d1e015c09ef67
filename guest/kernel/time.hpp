// Time from the monitor's per-vCPU pvclock (vcpu_time_info) and the wall clock in
// shared_info. Never a raw TSC assumption: after restore only the published scaling holds.
#pragma once

#include <stdint.h>

namespace domus::guest {

void init_time();
uint64_t monotonic_ns(); // ns since the domain started; never goes back, across vCPUs too
uint64_t wallclock_ns(); // ns since the Unix epoch

} // namespace domus::guest
