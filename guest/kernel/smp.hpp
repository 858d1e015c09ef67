// Secondary vCPUs: per-vCPU area, idle stack, vcpu_info and IPI port are prepared by a
// running vCPU, then VCPUOP_initialise + VCPUOP_up; each vCPU binds its own VIRQ_TIMER.
// Hot-plug follows Xen's protocol as Linux does: a vCPU going offline leaves its work to
// the others and downs itself (VCPUOP_down); the requester confirms with VCPUOP_is_up.
// Coming back, the same per-vCPU area, stack and ports are used again (VCPUOP_up only).
#pragma once

#include <stdint.h>

namespace domus::guest {

struct Cpu;

// Boot context: vCPU 0's IPI port; without a store also every other vCPU (with one,
// vcpu_hotplug_start brings up those the store says are online).
void init_smp();

// Thread context. 0, or a negative errno (-EINVAL for vCPU 0 offline, -ENOENT for a
// vCPU the domain does not have, -ETIMEDOUT, -ENOMEM, or the hypercall's error).
// `wait`: until it runs its idle loop (else it is on its way; a second call waits).
int vcpu_bring_online(unsigned id, bool wait = true);
int vcpu_take_offline(unsigned id);

// On a vCPU going offline, from its idle loop with the scheduler lock held: hands its
// work back, downs itself, and returns (lock dropped) once it is up again.
void cpu_play_dead(Cpu* c);

// Binds vCPU `c`'s IPI port (the wake-up kick) and its handler.
void smp_bind_ipi(Cpu* c);

// vcpu_hotplug.cpp: the store's cpu/<n>/availability nodes. From the main thread before
// main(): brings up the vCPUs that are online, then watches `cpu` for changes.
void vcpu_hotplug_start();

} // namespace domus::guest
