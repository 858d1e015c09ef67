// Secondary vCPUs: per-vCPU area, idle stack, vcpu_info and IPI port are prepared by
// vCPU 0, then VCPUOP_initialise + VCPUOP_up; each vCPU binds its own VIRQ_TIMER.
#pragma once

namespace domus::guest {

void init_smp();

} // namespace domus::guest
