// Bringing secondary vCPUs up and down, and their IPI ports (see smp.hpp).
#include "smp.hpp"

#include "boot_info.hpp"
#include "events.hpp"
#include "hypercall.hpp"
#include "mm.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "shutdown.hpp"
#include "smp_suspend.hpp"
#include "time.hpp"

#include <errno.h>
#include <string.h>

extern "C" void domus_secondary_entry();

namespace domus::guest {

namespace {

    constexpr size_t kIdleStackPages = 16; // 64 KiB: upcall frames carry the xsave area
    constexpr uint64_t kHotplugWaitNs = 10'000'000'000ull;

    // Ends SCHEDOP_block (the idle loop then looks at the run queue), or makes a vCPU
    // going offline leave the thread it runs (preempt_if_needed at the upcall's end).
    void on_ipi(evtchn_port_t, void*)
    {
        Cpu* c = this_cpu();
        smp_park_if_asked(c); // a suspend: returns once released
        if (sched_going_offline(c))
            c->need_resched = true;
        // A leaving vCPU handed us timed waiters: take their deadlines into our timer.
        if (__atomic_load_n(&c->timer_dirty, __ATOMIC_RELAXED))
            sched_unlock(sched_lock());
    }

    void mark_online(Cpu* c)
    {
        __atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
        __atomic_fetch_or(&cpus_online_mask, 1ull << c->id, __ATOMIC_RELEASE);
        __atomic_fetch_add(&nr_cpus_online, 1, __ATOMIC_RELEASE);
    }

    bool is_online(const Cpu* c) { return __atomic_load_n(&c->online, __ATOMIC_ACQUIRE); }

    // Its per-vCPU area, idle stack, vcpu_info and IPI port, then initialise + up.
    int start_secondary(unsigned id)
    {
        size_t cpu_pages = (sizeof(Cpu) + kPageSize - 1) / kPageSize;
        auto* c = static_cast<Cpu*>(page_alloc(cpu_pages));
        auto* stack = static_cast<char*>(page_alloc(kIdleStackPages));
        if (!c || !stack) {
            printk("domus: no memory for vCPU %u\n", id);
            if (c)
                page_free(c, cpu_pages);
            if (stack)
                page_free(stack, kIdleStackPages);
            return -ENOMEM;
        }
        memset(static_cast<void*>(c), 0, sizeof *c);
        c->self = c;
        c->id = id;
        init_thread_idle(&c->idle_thread, id);
        c->current = &c->idle_thread;
        c->vi.evtchn_upcall_mask = 1;
        c->event_generation = smp_domain_generation();
        __atomic_store_n(&cpus[id], c, __ATOMIC_RELEASE);
        register_vcpu_info(c);
        smp_bind_ipi(c);

        domus_vcpu_context ctx {};
        ctx.rip = reinterpret_cast<uint64_t>(&domus_secondary_entry);
        ctx.rsp = reinterpret_cast<uint64_t>(stack + kIdleStackPages * kPageSize);
        ctx.rdi = reinterpret_cast<uint64_t>(c);
        ctx.gs_base = reinterpret_cast<uint64_t>(c);
        long rc = hyp_vcpu_op(VCPUOP_initialise, id, &ctx);
        if (rc == 0)
            rc = hyp_vcpu_op(VCPUOP_up, id);
        if (rc < 0) {
            printk("domus: cannot start vCPU %u: %ld\n", id, rc);
            return int(rc);
        }
        return 0;
    }

    // Waits (bounded) until `done(id)`; sleeping if a thread, yielding if boot context.
    bool wait_for(bool (*done)(unsigned), unsigned id)
    {
        uint64_t deadline = monotonic_ns() + kHotplugWaitNs;
        while (!done(id)) {
            if (monotonic_ns() >= deadline)
                return false;
            if (current_thread()->idle)
                hyp_sched_op(SCHEDOP_yield);
            else
                sleep_until(monotonic_ns() + 200'000);
        }
        return true;
    }

    bool came_online(unsigned id) { return cpus[id] && is_online(cpus[id]); }
    bool went_down(unsigned id) { return hyp_vcpu_op(VCPUOP_is_up, id) == 0; }

} // namespace

void smp_bind_ipi(Cpu* c)
{
    // A domain of one vCPU never kicks another: no port (a port of 0 is never notified),
    // and one hypercall less at boot.
    if (boot.nr_vcpus == 1)
        return;
    int rc = evtchn_bind_ipi(c->id, &c->ipi_port);
    if (rc < 0)
        panic("bind_ipi(vCPU %u) failed: %d", c->id, rc);
    evtchn_set_handler(c->ipi_port, on_ipi, nullptr);
    evtchn_unmask(c->ipi_port);
}

void init_smp()
{
    smp_bind_ipi(cpus[0]);
    if (boot.start->store_mfn)
        return; // vcpu_hotplug_start reads which vCPUs are online
    unsigned started = 1;
    for (unsigned id = 1; id < boot.nr_vcpus; ++id) {
        if (start_secondary(id) < 0)
            break;
        ++started;
    }
    // Wait (bounded) for them to come online, so apps see every vCPU from main() on.
    uint64_t deadline = monotonic_ns() + 5'000'000'000ull;
    while (
        __atomic_load_n(&nr_cpus_online, __ATOMIC_ACQUIRE) < started && monotonic_ns() < deadline)
        hyp_sched_op(SCHEDOP_yield);
    if (nr_cpus_online < started)
        printk("domus: only %u of %u vCPUs came online\n", nr_cpus_online, started);
}

int vcpu_bring_online(unsigned id, bool wait)
{
    if (id >= boot.nr_vcpus)
        return -ENOENT;
    Cpu* c = __atomic_load_n(&cpus[id], __ATOMIC_ACQUIRE);
    if (!c) {
        if (int rc = start_secondary(id); rc < 0)
            return rc;
    } else {
        uint8_t flags = sched_lock();
        bool leaving = sched_going_offline(c);
        sched_unlock(flags);
        // Not leaving: up already, or on its way up. Leaving: up again once it is down.
        if (leaving && !wait_for(went_down, id)) {
            printk("domus: vCPU %u does not go down, so it cannot come back\n", id);
            return -ETIMEDOUT;
        }
        if (leaving) {
            flags = sched_lock();
            sched_bring_online_locked(id);
            sched_unlock(flags);
            // Resumes after its own VCPUOP_down, its area, stack and ports as they were.
            if (long rc = hyp_vcpu_op(VCPUOP_up, id); rc < 0) {
                printk("domus: cannot bring vCPU %u back up: %ld\n", id, rc);
                return int(rc);
            }
        }
    }
    if (wait && !wait_for(came_online, id)) {
        printk("domus: vCPU %u did not come online\n", id);
        return -ETIMEDOUT;
    }
    return 0;
}

int vcpu_take_offline(unsigned id)
{
    if (id == 0) {
        printk("domus: vCPU 0 cannot go offline; request ignored\n");
        return -EINVAL;
    }
    if (id >= boot.nr_vcpus)
        return -ENOENT;
    Cpu* c = __atomic_load_n(&cpus[id], __ATOMIC_ACQUIRE);
    if (!c)
        return 0; // never came up
    uint8_t flags = sched_lock();
    if (!sched_going_offline(c))
        sched_take_offline_locked(id);
    sched_unlock(flags);
    // As Linux's xen_pv_cpu_die: the vCPU downs itself; we see it through VCPUOP_is_up.
    if (!wait_for(went_down, id)) {
        printk("domus: vCPU %u did not go offline\n", id);
        return -ETIMEDOUT;
    }
    return 0;
}

void cpu_play_dead(Cpu* c)
{
    sched_cpu_leave_locked(c);
    __atomic_store_n(&c->online, 0, __ATOMIC_RELEASE);
    __atomic_fetch_and(&cpus_online_mask, ~(1ull << c->id), __ATOMIC_RELEASE);
    __atomic_fetch_sub(&nr_cpus_online, 1, __ATOMIC_RELEASE);
    c->timer_programmed = 0;
    c->timer_dirty = false;
    c->need_resched = false;
    sched_unlock(1); // sends the kicks; upcalls stay masked while it is down
    hyp_set_timer_op(0);
    long rc = hyp_vcpu_op(VCPUOP_down, c->id);
    if (rc < 0)
        printk("domus: vCPU %u: VCPUOP_down failed: %ld\n", c->id, rc);
    smp_rebind_if_moved(c); // restored or migrated while it was down
    // Up again (or never down): back to the idle loop, which finds work as before.
    mark_online(c);
}

} // namespace domus::guest

extern "C" [[noreturn]] void domus_secondary_start(domus::guest::Cpu* c)
{
    using namespace domus::guest;
    // The monitor set the GS base from ctx.gs_base; set it again in case it did not
    // (cheap with FSGSBASE, one exit without), before anything reads %gs.
    set_gs_base(reinterpret_cast<uint64_t>(c));
    register_upcall_entry();
    init_cpu_timer(c);
    __atomic_store_n(&c->online, 1, __ATOMIC_RELEASE);
    __atomic_fetch_or(&cpus_online_mask, 1ull << c->id, __ATOMIC_RELEASE);
    __atomic_fetch_add(&nr_cpus_online, 1, __ATOMIC_RELEASE);
    idle_loop();
}
