// The suspend thread. Before SCHEDOP_shutdown(SHUTDOWN_suspend): block devices drained
// and held, the store's requests answered and held, the console flushed. The hypercall
// returns 1 when the suspend was cancelled (the domain goes on where it was: nothing to
// redo) and 0 in a new domain, restored from a save or migrated: there everything the
// monitor kept for us is new, so this kernel
//   - forgets every event channel binding, registers its grant table again (the entries
//     are in its own pages and came along), binds its timer VIRQ and re-arms the timer;
//   - binds the console's new port (the new monitor cleared the ring);
//   - resets the store ring (cleared too), binds its new port, registers every watch again;
//   - reconnects each open channel (same ring, a new port), as consfront.hpp says;
//   - reconnects each block device to its new backend (same ring page and grants, a new
//     port) before letting requests go; none was in flight (drained), so none is lost.
// Time: the monitor of the new domain continues system time from the saved value and
// republishes vcpu_time_info for its host's TSC before the guest runs, so the pvclock
// never goes back; the wallclock follows the new host (docs/migration.md).
// Other vCPUs online: after the drivers are quiet, they are parked (smp_suspend.cpp) and
// released after the hypercall; in a new domain each binds its timer VIRQ and IPI again
// on itself and re-arms its timer before it schedules anything.
#include "suspend.hpp"

#include "blkfront.hpp"
#include "console.hpp"
#include "consfront.hpp"
#include "events.hpp"
#include "gnttab.hpp"
#include "hypercall.hpp"
#include "irq.hpp"
#include "netfront.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "smp_suspend.hpp"
#include "thread.hpp"
#include "time.hpp"
#include "xenbus.hpp"

namespace domus::guest {

namespace {

    // One suspend at a time. A request is acked (consumed) before it gets here, so one
    // that comes while a suspend still runs (a save right after a restore, while the
    // drivers of the new domain reconnect) is a new one: it is served when the running
    // suspend ends, never dropped.
    enum : uint32_t { kIdle, kRunning, kRunningAndAgain };
    uint32_t suspend_state = kIdle;

    void suspend_once()
    {
        printk("domus: suspending\n");
        blkfront::suspend();
        netfront::suspend();
        consfront::suspend();
        xenbus::suspend();
        console_flush(500'000'000);
        long rc = -XEN_EBUSY;
        bool parked = smp_park_others();
        irq_disable();
        if (parked) {
            sched_shutdown sd { SHUTDOWN_suspend };
            rc = hyp_sched_op(SCHEDOP_shutdown, &sd);
        }
        bool new_domain = rc == 0;
        if (new_domain) {
            events_resume();
            gnttab_resume();
        }
        if (parked)
            smp_release_others(new_domain); // rebinds this vCPU's timer and IPI, then theirs
        if (new_domain)
            console_resume();
        irq_enable();
        xenbus::resume(new_domain);
        blkfront::resume(new_domain);
        netfront::resume(new_domain);
        consfront::resume(new_domain);
        if (rc < 0)
            printk("domus: suspend failed (%ld)\n", rc);
        else
            printk("domus: resumed (%s)\n", new_domain ? "in a new domain" : "suspend cancelled");
    }

    void suspend_thread(void*)
    {
        for (;;) {
            suspend_once();
            uint32_t running = kRunning;
            if (__atomic_compare_exchange_n(
                    &suspend_state, &running, kIdle, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
                return;
            __atomic_store_n(&suspend_state, kRunning, __ATOMIC_RELEASE); // the next one
        }
    }

} // namespace

void suspend_request()
{
    uint32_t state = __atomic_load_n(&suspend_state, __ATOMIC_ACQUIRE);
    for (;;) {
        uint32_t next = state == kIdle ? kRunning : kRunningAndAgain;
        if (__atomic_compare_exchange_n(
                &suspend_state, &state, next, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            if (state != kIdle)
                return; // the running suspend thread serves it next
            break;
        }
    }
    domus_thread_attr_t attr {};
    attr.name = "suspend";
    attr.vcpu = 0;
    attr.detached = 1;
    if (!thread_create(suspend_thread, nullptr, &attr)) {
        printk("domus: cannot create the suspend thread; suspend ignored\n");
        __atomic_store_n(&suspend_state, uint32_t(kIdle), __ATOMIC_RELEASE);
    }
}

} // namespace domus::guest
