/* bench_hypercall: medians of
 *   hypercall_roundtrip_us  one xen_version hypercall (a VM exit and back);
 *   event_roundtrip_us      vCPU0 -> vCPU1 -> vCPU0 by IPI event channels, each side's
 *                           thread blocked in between (its vCPU in SCHEDOP_block);
 *   upcall_inject_us        from sending an event to the own vCPU (upcalls enabled)
 *                           until its handler runs.
 * rounds=N on the command line (default 1000). */
#include <domus/guest.h>

#include <stdio.h>
#include <stdlib.h>

static int compare_u64(const void* a, const void* b) {
    uint64_t x = *(const uint64_t*)a, y = *(const uint64_t*)b;
    return x < y ? -1 : x > y;
}

static double median_us(uint64_t* v, unsigned n) {
    qsort(v, n, sizeof *v, compare_u64);
    return (double)v[n / 2] / 1000.0;
}

static unsigned rounds = 1000;
static uint64_t* samples;

static void bench_hypercall(void) {
    for (unsigned i = 0; i < rounds; ++i) {
        uint64_t t0 = domus_monotonic_ns();
        domus_hypercall(__HYPERVISOR_xen_version, 0, 0, 0, 0, 0);
        samples[i] = domus_monotonic_ns() - t0;
    }
    printf("hypercall_roundtrip_us %.2f us\n", median_us(samples, rounds));
}

/* ---- event round trip: ping on vCPU 0, pong on vCPU 1. */
static domus_sem_t ping_sem = DOMUS_SEM_INIT(0), pong_sem = DOMUS_SEM_INIT(0);
static evtchn_port_t ping_port, pong_port; /* ping_port is bound to vCPU 0, pong_port to vCPU 1 */

static void wake_sem(evtchn_port_t port, void* sem) {
    (void)port;
    domus_sem_up(sem);
}

static void pong_thread(void* arg) {
    (void)arg;
    for (unsigned i = 0; i < rounds; ++i) {
        domus_sem_down(&pong_sem);
        domus_evtchn_notify(ping_port);
    }
}

static void ping_thread(void* arg) {
    (void)arg;
    for (unsigned i = 0; i < rounds; ++i) {
        uint64_t t0 = domus_monotonic_ns();
        domus_evtchn_notify(pong_port);
        domus_sem_down(&ping_sem);
        samples[i] = domus_monotonic_ns() - t0;
    }
}

static void bench_event(void) {
    if (domus_vcpu_count() < 2) {
        printf("# event_roundtrip_us needs 2 vCPUs (--vcpus 2)\n");
        return;
    }
    if (domus_evtchn_bind_ipi(0, &ping_port) || domus_evtchn_bind_ipi(1, &pong_port)) {
        printf("# event_roundtrip_us: bind_ipi failed\n");
        return;
    }
    domus_evtchn_set_handler(ping_port, wake_sem, &ping_sem);
    domus_evtchn_set_handler(pong_port, wake_sem, &pong_sem);
    domus_evtchn_unmask(ping_port);
    domus_evtchn_unmask(pong_port);
    domus_thread_attr_t a = {"ping", 0, 0, 0}, b = {"pong", 0, 1, 0};
    domus_thread_t* pong = domus_thread_create(pong_thread, NULL, &b);
    domus_thread_t* ping = domus_thread_create(ping_thread, NULL, &a);
    domus_thread_join(ping);
    domus_thread_join(pong);
    printf("event_roundtrip_us %.2f us\n", median_us(samples, rounds));
    domus_evtchn_close(ping_port);
    domus_evtchn_close(pong_port);
}

/* ---- upcall injection: an IPI to our own vCPU while upcalls are enabled. */
static volatile uint64_t handled_at;

static void stamp(evtchn_port_t port, void* arg) {
    (void)port, (void)arg;
    handled_at = domus_monotonic_ns();
}

static void inject_thread(void* arg) {
    evtchn_port_t port = *(evtchn_port_t*)arg;
    unsigned n = 0;
    for (unsigned i = 0; i < rounds; ++i) {
        handled_at = 0;
        uint64_t t0 = domus_monotonic_ns();
        domus_evtchn_notify(port);
        uint64_t deadline = t0 + 100000000;
        while (!handled_at && domus_monotonic_ns() < deadline)
            __builtin_ia32_pause();
        if (handled_at) samples[n++] = handled_at - t0;
    }
    if (n)
        printf("upcall_inject_us %.2f us\n", median_us(samples, n));
    else
        printf("# upcall_inject_us: the handler never ran\n");
}

static void bench_upcall(void) {
    evtchn_port_t port;
    if (domus_evtchn_bind_ipi(0, &port)) {
        printf("# upcall_inject_us: bind_ipi failed\n");
        return;
    }
    domus_evtchn_set_handler(port, stamp, NULL);
    domus_evtchn_unmask(port);
    domus_thread_attr_t a = {"inject", 0, 0, 0};
    domus_thread_join(domus_thread_create(inject_thread, &port, &a));
    domus_evtchn_close(port);
}

int main(void) {
    char value[32];
    if (domus_cmdline_get("rounds", value, sizeof value))
        rounds = (unsigned)strtoul(value, NULL, 10);
    if (rounds < 1) rounds = 1;
    samples = malloc(rounds * sizeof *samples);
    if (!samples) return 1;
    bench_hypercall();
    bench_event();
    bench_upcall();
    return 0;
}
