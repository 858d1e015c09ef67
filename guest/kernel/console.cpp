// Console ring front end (see console.hpp). Producer protocol: write the bytes, a
// write barrier, then out_prod, then notify; the consumer protocol mirrors it for `in`.
#include "console.hpp"

#include "arch.hpp"
#include "boot_info.hpp"
#include "events.hpp"
#include "hypercall.hpp"
#include "sched.hpp"
#include "spinlock.hpp"
#include "time.hpp"

namespace domus::guest {

namespace {

    Spinlock out_lock;
    Spinlock in_lock;
    domus_waitq readers;
    bool ring_ready;

    // Terminals want CRLF: like Mini-OS and Linux's hvc (ONLCR), the console turns each
    // bare LF into CR LF; the backend passes the bytes through as they are.
    bool needs_cr(const char* buf, size_t i)
    {
        return buf[i] == '\n' && (i == 0 || buf[i - 1] != '\r');
    }

    void early_write(const char* buf, size_t len)
    {
        char chunk[256]; // a small stack piece; each call stays far below DOMUS_CONSOLEIO_MAX
        size_t used = 0;
        for (size_t i = 0; i < len; ++i) {
            if (used + 2 > sizeof chunk) {
                hyp_console_write(chunk, used);
                used = 0;
            }
            if (needs_cr(buf, i))
                chunk[used++] = '\r';
            chunk[used++] = buf[i];
        }
        if (used)
            hyp_console_write(chunk, used);
    }

    // Waits for ring space. The backend drains after a notify; between checks give the host
    // CPU away now and then (2 physical cores may be running all of our vCPUs).
    void wait_for_space(xencons_interface* intf, XENCONS_RING_IDX prod)
    {
        hyp_domus_notify(boot.console_port);
        for (unsigned spins = 0;
             prod - __atomic_load_n(&intf->out_cons, __ATOMIC_ACQUIRE) >= sizeof intf->out;
             ++spins) {
            if (spins % 256 == 255)
                hyp_sched_op(SCHEDOP_yield);
            else
                cpu_relax();
        }
    }

    void ring_put(xencons_interface* intf, XENCONS_RING_IDX& prod, char c)
    {
        if (prod - __atomic_load_n(&intf->out_cons, __ATOMIC_ACQUIRE) >= sizeof intf->out) {
            __atomic_store_n(&intf->out_prod, prod, __ATOMIC_RELEASE);
            wait_for_space(intf, prod);
        }
        intf->out[MASK_XENCONS_IDX(prod++, intf->out)] = c;
    }

    void ring_write(const char* buf, size_t len)
    {
        xencons_interface* intf = boot.console;
        XENCONS_RING_IDX prod = intf->out_prod;
        for (size_t i = 0; i < len; ++i) {
            if (needs_cr(buf, i))
                ring_put(intf, prod, '\r');
            ring_put(intf, prod, buf[i]);
        }
        // Release: the data is visible before the new producer index.
        __atomic_store_n(&intf->out_prod, prod, __ATOMIC_RELEASE);
        hyp_domus_notify(boot.console_port);
    }

    bool input_available(void*)
    {
        xencons_interface* intf = boot.console;
        return __atomic_load_n(&intf->in_prod, __ATOMIC_ACQUIRE) == intf->in_cons;
    }

    void on_console_event(evtchn_port_t, void*) { waitq_wake_all(&readers); }

} // namespace

void init_console()
{
    if (!boot.console)
        return;
    evtchn_bind_existing(boot.console_port);
    evtchn_set_handler(boot.console_port, on_console_event, nullptr);
    evtchn_unmask(boot.console_port);
    ring_ready = true;
}

void console_resume()
{
    // The new monitor cleared the ring and bound a new port (start_info says which).
    boot.console_port = __atomic_load_n(&boot.start->console.evtchn, __ATOMIC_ACQUIRE);
    init_console();
}

void console_write(const char* buf, size_t len)
{
    if (!len)
        return;
    if (!ring_ready) {
        early_write(buf, len);
        return;
    }
    IrqSpinGuard guard(out_lock);
    ring_write(buf, len);
}

void console_write_emergency(const char* buf, size_t len)
{
    if (!ring_ready) {
        early_write(buf, len);
        return;
    }
    uint8_t flags = irq_save();
    bool locked = false;
    for (int i = 0; i < 1000000 && !(locked = out_lock.try_lock()); ++i)
        cpu_relax();
    if (locked) {
        ring_write(buf, len);
        out_lock.unlock();
    } else {
        early_write(buf, len); // the ring's owner is stuck: bypass it
    }
    irq_restore(flags);
}

size_t console_read(char* buf, size_t len)
{
    if (!ring_ready || !len)
        return 0;
    xencons_interface* intf = boot.console;
    for (;;) {
        {
            IrqSpinGuard guard(in_lock);
            XENCONS_RING_IDX cons = intf->in_cons;
            XENCONS_RING_IDX prod = __atomic_load_n(&intf->in_prod, __ATOMIC_ACQUIRE);
            if (prod - cons > sizeof intf->in) // ill-behaved producer: drop everything
                cons = prod;
            size_t n = 0;
            while (cons != prod && n < len)
                buf[n++] = intf->in[MASK_XENCONS_IDX(cons++, intf->in)];
            __atomic_store_n(&intf->in_cons, cons, __ATOMIC_RELEASE);
            if (n) {
                hyp_domus_notify(boot.console_port);
                return n;
            }
        }
        waitq_sleep_while(&readers, input_available, nullptr);
    }
}

void console_flush(uint64_t timeout_ns)
{
    if (!ring_ready)
        return;
    xencons_interface* intf = boot.console;
    uint64_t deadline = monotonic_ns() + timeout_ns;
    unsigned spins = 0;
    while (__atomic_load_n(&intf->out_cons, __ATOMIC_ACQUIRE) != intf->out_prod
        && monotonic_ns() < deadline) {
        if (++spins % 256 == 0)
            hyp_sched_op(SCHEDOP_yield);
        else
            cpu_relax();
    }
}

} // namespace domus::guest
