// The other vCPUs around a suspend, as Linux's xen_suspend under stop_machine: they are
// brought to a quiet point (parked in their IPI upcall: upcalls masked, no spinlock held)
// before SCHEDOP_shutdown(SHUTDOWN_suspend), and released after it; in a new domain each
// first binds its timer VIRQ and IPI again on itself and re-arms its timer.
#pragma once

namespace domus::guest {

struct Cpu;

// Thread context on the suspending vCPU, nothing held, upcalls enabled. Holds vCPU
// hot-plug off (smp_hotplug_lock) and parks every other online vCPU. False (everything
// released again) if one did not park in time.
bool smp_park_others();

// After the hypercall, upcalls masked. `new_domain`: forgets the other vCPUs' ports
// (so no kick goes to a port that now means something else), rebinds the caller's own,
// and lets each parked vCPU rebind its own before it goes on; waits (bounded) until they
// have. Else they just go on. Lets hot-plug go again.
void smp_release_others(bool new_domain);

// In the upcall of a vCPU's IPI: parks it if asked to (returns once released).
void smp_park_if_asked(Cpu* c);

// A vCPU up again after VCPUOP_down: rebinds its ports if the domain moved while it was
// down (their numbers belonged to the old domain).
void smp_rebind_if_moved(Cpu* c);

// The current domain generation (for a vCPU started now).
unsigned smp_domain_generation();

// vCPU hot-plug requests and a suspend exclude each other (thread context).
void smp_hotplug_lock();
void smp_hotplug_unlock();

} // namespace domus::guest
