// Parking the other vCPUs around a suspend and rebinding their ports in a new domain
// (see smp_suspend.hpp).
#include "smp_suspend.hpp"

#include "events.hpp"
#include "hypercall.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "smp.hpp"
#include "sync.hpp"
#include "time.hpp"

namespace domus::guest {

namespace {

    constexpr uint64_t kParkWaitNs = 5'000'000'000ull;

    domus_mutex_t hotplug_mutex = DOMUS_MUTEX_INIT;
    uint64_t park_mask; // vCPUs asked to park (atomics)
    uint64_t parked_mask; // vCPUs parked and not yet gone on (atomics)
    // Bumped on each resume in a new domain; a vCPU whose Cpu::event_generation differs
    // holds ports of an old domain.
    uint32_t domain_generation;

    void rebind_own(Cpu* c)
    {
        init_cpu_timer(c);
        smp_bind_ipi(c);
        // The monitor kept our deadline, but a VIRQ it raised before the port existed is
        // lost: fire soon and let the timer handler look at the sleepers again.
        c->timer_programmed = monotonic_ns() + 100'000;
        hyp_set_timer_op(c->timer_programmed);
        c->event_generation = __atomic_load_n(&domain_generation, __ATOMIC_ACQUIRE);
    }

    bool vcpu_is_up(unsigned id) { return hyp_vcpu_op(VCPUOP_is_up, id) != 0; }

    // Every vCPU in `mask` parked, or down (one that downed itself never parks).
    bool all_parked(uint64_t mask)
    {
        uint64_t parked = __atomic_load_n(&parked_mask, __ATOMIC_ACQUIRE);
        for (unsigned id = 0; id < DOMUS_MAX_VCPUS; ++id)
            if ((mask & (1ull << id)) && !(parked & (1ull << id)) && vcpu_is_up(id))
                return false;
        return true;
    }

    // Waits, spinning in the monitor, until `done()` or the deadline.
    template <class Done> bool spin_until(Done done)
    {
        uint64_t deadline = monotonic_ns() + kParkWaitNs;
        while (!done()) {
            if (monotonic_ns() >= deadline)
                return false;
            hyp_sched_op(SCHEDOP_yield);
        }
        return true;
    }

} // namespace

unsigned smp_domain_generation() { return __atomic_load_n(&domain_generation, __ATOMIC_ACQUIRE); }

void smp_hotplug_lock() { mutex_lock(&hotplug_mutex); }
void smp_hotplug_unlock() { mutex_unlock(&hotplug_mutex); }

bool smp_park_others()
{
    smp_hotplug_lock();
    unsigned self = this_cpu()->id;
    uint64_t mask = 0;
    for (unsigned id = 0; id < DOMUS_MAX_VCPUS; ++id)
        if (id != self && cpus[id] && __atomic_load_n(&cpus[id]->online, __ATOMIC_ACQUIRE))
            mask |= 1ull << id;
    __atomic_store_n(&park_mask, mask, __ATOMIC_SEQ_CST);
    for (unsigned id = 0; id < DOMUS_MAX_VCPUS; ++id)
        if (mask & (1ull << id))
            evtchn_notify(cpus[id]->ipi_port);
    if (spin_until([mask] { return all_parked(mask); }))
        return true;
    printk("domus: other vCPUs did not stop for the suspend (asked %llx, parked %llx)\n",
        (unsigned long long)mask,
        (unsigned long long)__atomic_load_n(&parked_mask, __ATOMIC_ACQUIRE));
    smp_release_others(false);
    return false;
}

void smp_release_others(bool new_domain)
{
    Cpu* self = this_cpu();
    if (new_domain) {
        __atomic_fetch_add(&domain_generation, 1u, __ATOMIC_ACQ_REL);
        for (unsigned id = 0; id < DOMUS_MAX_VCPUS; ++id)
            if (cpus[id] && id != self->id) {
                __atomic_store_n(&cpus[id]->ipi_port, 0u, __ATOMIC_RELEASE);
                cpus[id]->timer_port = 0;
            }
        rebind_own(self);
    }
    __atomic_store_n(&park_mask, 0ull, __ATOMIC_SEQ_CST);
    // Only once each has rebound may anything kick it (a port of 0 is never notified).
    if (!spin_until([] { return __atomic_load_n(&parked_mask, __ATOMIC_ACQUIRE) == 0; }))
        printk("domus: parked vCPUs did not go on (%llx)\n",
            (unsigned long long)__atomic_load_n(&parked_mask, __ATOMIC_ACQUIRE));
    smp_hotplug_unlock();
}

void smp_park_if_asked(Cpu* c)
{
    uint64_t bit = 1ull << c->id;
    if (!(__atomic_load_n(&park_mask, __ATOMIC_ACQUIRE) & bit))
        return;
    __atomic_fetch_or(&parked_mask, bit, __ATOMIC_SEQ_CST);
    // Upcalls are masked here and the interrupted thread held no spinlock (those mask
    // upcalls): nothing this vCPU does can hold up the suspend or the save.
    while (__atomic_load_n(&park_mask, __ATOMIC_ACQUIRE) & bit)
        hyp_sched_op(SCHEDOP_yield);
    smp_rebind_if_moved(c);
    __atomic_fetch_and(&parked_mask, ~bit, __ATOMIC_SEQ_CST);
}

void smp_rebind_if_moved(Cpu* c)
{
    if (c->event_generation != __atomic_load_n(&domain_generation, __ATOMIC_ACQUIRE))
        rebind_own(c);
}

} // namespace domus::guest
