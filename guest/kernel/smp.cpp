// Bringing up secondary vCPUs and their IPI ports (see smp.hpp).
#include "smp.hpp"

#include "boot_info.hpp"
#include "events.hpp"
#include "hypercall.hpp"
#include "mm.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "shutdown.hpp"
#include "time.hpp"

#include <string.h>

extern "C" void domus_secondary_entry();

namespace domus::guest {

namespace {

    constexpr size_t kIdleStackPages = 16; // 64 KiB: upcall frames carry the xsave area

    // The IPI only has to end SCHEDOP_block; the idle loop then looks at the run queue.
    void on_ipi(evtchn_port_t, void*) { }

    void bind_ipi(Cpu* c)
    {
        int rc = evtchn_bind_ipi(c->id, &c->ipi_port);
        if (rc < 0)
            panic("bind_ipi(vCPU %u) failed: %d", c->id, rc);
        evtchn_set_handler(c->ipi_port, on_ipi, nullptr);
        evtchn_unmask(c->ipi_port);
    }

    bool start_secondary(unsigned id)
    {
        size_t cpu_pages = (sizeof(Cpu) + kPageSize - 1) / kPageSize;
        auto* c = static_cast<Cpu*>(page_alloc(cpu_pages));
        auto* stack = static_cast<char*>(page_alloc(kIdleStackPages));
        if (!c || !stack) {
            printk("domus: no memory for vCPU %u\n", id);
            return false;
        }
        memset(static_cast<void*>(c), 0, sizeof *c);
        c->self = c;
        c->id = id;
        init_thread_idle(&c->idle_thread, id);
        c->current = &c->idle_thread;
        c->vi.evtchn_upcall_mask = 1;
        cpus[id] = c;
        register_vcpu_info(c);
        bind_ipi(c);

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
            return false;
        }
        return true;
    }

} // namespace

void init_smp()
{
    bind_ipi(cpus[0]);
    unsigned want = boot.nr_vcpus;
    unsigned started = 1;
    for (unsigned id = 1; id < want; ++id) {
        if (!start_secondary(id))
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

} // namespace domus::guest

extern "C" [[noreturn]] void domus_secondary_start(domus::guest::Cpu* c)
{
    using namespace domus::guest;
    // The monitor set the GS base from ctx.gs_base; set it again in case it did not
    // (cheap with FSGSBASE, one exit without), before anything reads %gs.
    set_gs_base(reinterpret_cast<uint64_t>(c));
    register_upcall_entry();
    init_cpu_timer(c);
    c->online = 1;
    __atomic_fetch_add(&nr_cpus_online, 1, __ATOMIC_RELEASE);
    idle_loop();
}
