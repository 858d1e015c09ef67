// The C side of an event upcall: demultiplex pending ports, then preempt if the timer
// said so. Entered from upcall_entry.S (a real upcall) or from irq_enable() (an event
// that became pending while masked), always with the upcall mask set.
#include "events.hpp"
#include "irq.hpp"
#include "percpu.hpp"
#include "sched.hpp"

namespace domus::guest {

void irq_enable()
{
    for (;;) {
        asm volatile("movb $0, %%gs:%c0" ::"i"(CPU_UPCALL_MASK) : "memory");
        __atomic_thread_fence(__ATOMIC_SEQ_CST); // the unmask before the pending load
        if (!irq_upcall_pending())
            return;
        irq_disable();
        domus_upcall(nullptr);
    }
}

} // namespace domus::guest

extern "C" void domus_upcall(void*)
{
    using namespace domus::guest;
    Cpu* c = this_cpu();
    ++c->upcalls;
    evtchn_demux(c);
    preempt_if_needed(c); // may switch threads; `c` is stale afterwards
}
