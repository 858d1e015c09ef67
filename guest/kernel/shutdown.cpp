// Poweroff, reboot and panic (see shutdown.hpp).
#include "shutdown.hpp"

#include "console.hpp"
#include "hypercall.hpp"
#include "irq.hpp"
#include "percpu.hpp"
#include "printk.hpp"

namespace domus::guest {

namespace {

    uint32_t panicking;

    [[noreturn]] void domain_exit(uint32_t reason, uint32_t code)
    {
        console_flush(500'000'000);
        domus_sched_exit ex { reason, code };
        hyp_sched_op(SCHEDOP_domus_exit, &ex);
        sched_shutdown sd { reason }; // a monitor without the Domus op
        hyp_sched_op(SCHEDOP_shutdown, &sd);
        for (;;) {
            irq_disable();
            hyp_vcpu_op(VCPUOP_down, this_cpu()->id);
            hyp_sched_op(SCHEDOP_yield);
        }
    }

} // namespace

void poweroff(int code) { domain_exit(SHUTDOWN_poweroff, code < 0 ? 255u : uint32_t(code)); }

void reboot() { domain_exit(SHUTDOWN_reboot, 0); }

void vpanic(const char* fmt, va_list ap)
{
    irq_disable();
    if (__atomic_exchange_n(&panicking, 1u, __ATOMIC_SEQ_CST)) {
        // A second panic (another vCPU, or from the first one's output path): just stop.
        domus_sched_exit ex { SHUTDOWN_crash, 1 };
        hyp_sched_op(SCHEDOP_domus_exit, &ex);
        for (;;)
            hyp_sched_op(SCHEDOP_yield);
    }
    char buf[600];
    int n = ksnprintf(buf, sizeof buf, "\n*** Domus kernel panic (vCPU %u): ", this_cpu()->id);
    n += kvsnprintf(buf + n, sizeof buf - n, fmt, ap);
    if (n > int(sizeof buf) - 2)
        n = sizeof buf - 2;
    buf[n++] = '\n';
    console_write_emergency(buf, n);
    domain_exit(SHUTDOWN_crash, 1);
}

void panic(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(fmt, ap);
}

} // namespace domus::guest
