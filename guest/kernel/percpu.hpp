// Per-vCPU data, reached through the GS base: the current thread, the vcpu_info the
// monitor writes (registered here with VCPUOP_register_vcpu_info), the idle thread,
// the sleepers whose timer this vCPU owns and the ports bound to it.
#pragma once

#include "percpu_offsets.h"
#include "thread.hpp"

#include <domus/abi/event_channel.h>
#include <domus/abi/shared_info.h>
#include <domus/abi/vcpu.h>
#include <stddef.h>
#include <stdint.h>

namespace domus::guest {

constexpr unsigned kPortWords = DOMUS_NR_EVENT_CHANNELS / 64;

struct alignas(64) Cpu {
    Cpu* self; // CPU_SELF
    domus_thread* current; // CPU_CURRENT
    uint32_t id;
    uint32_t online;
    uint8_t _pad0[64 - 24];
    vcpu_info vi; // CPU_VCPU_INFO; 64-aligned so it never crosses a page
    domus_thread idle_thread;
    // Timer state: touched only by this vCPU, with upcalls masked; the sleepers list is
    // also under the scheduler lock (a timed waiter woken elsewhere leaves it there).
    domus_thread* sleepers; // sorted by wake_at, linked by sleep_next
    uint64_t slice_end; // preempt the current thread after this time
    uint64_t timer_programmed; // deadline given to set_timer_op, 0 = none
    bool timer_dirty; // re-evaluate the timer at the next sched_unlock
    bool need_resched;
    bool idle_claimed; // the idle thread will run a thread woken in its upcall
    uint64_t kick_mask; // vCPUs to send a wake-up IPI after the scheduler lock drops
    evtchn_port_t timer_port;
    evtchn_port_t ipi_port;
    uint32_t event_generation; // the domain its ports were bound in (smp_suspend.cpp)
    uint64_t port_bits[kPortWords]; // ports whose events this vCPU handles
    uint64_t upcalls;
    uint64_t preemptions;
    uint64_t switches;
};

extern Cpu* cpus[DOMUS_MAX_VCPUS];
extern unsigned nr_cpus_online;
extern uint64_t cpus_online_mask; // bit n: vCPU n is online (atomics)

inline Cpu* this_cpu()
{
    Cpu* c;
    asm volatile("mov %%gs:%c1, %0" : "=r"(c) : "i"(CPU_SELF));
    return c;
}

// Safe without masking: whichever vCPU runs the load, the answer is this thread.
inline domus_thread* current_thread()
{
    domus_thread* t;
    asm volatile("mov %%gs:%c1, %0" : "=r"(t) : "i"(CPU_CURRENT));
    return t;
}

void init_percpu_boot(Cpu* cpu0);
void set_gs_base(uint64_t base);
// Points the monitor at cpu->vi for vCPU `id` (the caller's own or one still down).
void register_vcpu_info(Cpu* cpu);

} // namespace domus::guest
