/* hostile: fires thousands of garbage hypercalls at the monitor and must survive them.
 * Numbers 0..127 (every stub of the hypercall page; the ABI defines 64), sub-commands
 * at random, pointers that are NULL, unmapped (below 2 MiB, past the end of memory),
 * in the kernel half, non-canonical, near 4 GiB, misaligned, or into a scratch
 * buffer with random contents; lengths at random; bogus ports and vCPU ids.
 *
 * Excluded on purpose, because they would legitimately end or cripple this domain
 * rather than test the monitor's defences:
 *   - sched_op SCHEDOP_shutdown, SCHEDOP_shutdown_code, SCHEDOP_domus_exit (power off),
 *     SCHEDOP_block (may sleep forever: no timer is guaranteed), SCHEDOP_poll (same,
 *     with timeout 0), and Xen's remote_shutdown (4);
 *   - vcpu_op VCPUOP_down/up/initialise, set/stop_singleshot_timer and
 *     register_vcpu_info on a real vCPU (they would stop a vCPU, start one at a random
 *     RIP, steal the kernel's timer or move its vcpu_info); sent to bogus ids instead;
 *   - callback_op register/unregister (would move the upcall entry to garbage);
 *   - set_segment_base for GS (the kernel's per-vCPU pointer) and set_timer_op (the
 *     kernel's scheduler timer);
 *   - EVTCHNOP_close / bind_vcpu with valid memory (could close or move the kernel's
 *     own ports); they get only invalid pointers;
 *   - XENMEM_decrease_reservation with valid memory (could balloon out our own pages);
 *   - console_io writes from valid memory (would spray garbage onto the console).
 * Prints "hostile: survived N calls, M errors" and exits 0. count=N on the command
 * line changes the number of calls (default 4000); seed=N makes a run repeatable and
 * verbose=1 prints every random call with its result. */
#include <domus/guest.h>

#include <domus/abi/console.h>
#include <domus/abi/event_channel.h>
#include <domus/abi/memory.h>
#include <domus/abi/sched.h>
#include <domus/abi/vcpu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char hypercall_page[4096];

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Calls may write through scratch pointers: offsets stay in the first 12 KiB and the
 * rest is slack for lengths that run past them. */
static unsigned char scratch[16 * 4096] __attribute__((aligned(4096)));
#define SCRATCH_WINDOW (3 * 4096)

/* A pointer that is never into kernel or app state except the scratch buffer. */
static uint64_t bad_pointer(void)
{
    uint64_t mem = domus_memory_bytes();
    switch (rnd() % 12) {
    case 0:
        return 0;
    case 1:
        return 0x1000 + rnd() % 0x1ff000; /* unmapped low 2 MiB */
    case 2:
        return mem + rnd() % (1ull << 30); /* past guest memory */
    case 3:
        return 0xfffff000ull + rnd() % 0x1000; /* near 4 GiB */
    case 4:
        return 0xffff800000000000ull + (rnd() & 0xffffff); /* kernel half */
    case 5:
        return 0x0000800000000000ull + (rnd() & 0xffff); /* non-canonical */
    case 6:
        return ~0ull - rnd() % 64; /* wraps around */
    case 7:
        return mem + rnd() % 8; /* right at the end */
    case 8:
        return mem + (rnd() % 16) * 4096 + rnd() % 4096; /* just past the end */
    default:
        return (uint64_t)scratch + rnd() % SCRATCH_WINDOW + (rnd() & 1); /* misaligned too */
    }
}

static uint64_t invalid_pointer(void)
{
    for (;;) {
        uint64_t p = bad_pointer();
        uint64_t lo = (uint64_t)scratch;
        /* The low 2 MiB is unmapped for us but is guest RAM to the monitor, which may
         * rightly read it (console_io prints it): not "invalid" either. */
        if ((p < lo || p >= lo + sizeof scratch) && p >= 0x200000)
            return p;
    }
}

static uint64_t any_value(void)
{
    switch (rnd() % 6) {
    case 0:
        return 0;
    case 1:
        return rnd() % 16;
    case 2:
        return rnd();
    case 3: { /* 32-bit, but never inside guest memory */
        uint64_t v = (uint32_t)rnd() | 0x80000000u;
        return v < domus_memory_bytes() ? v + domus_memory_bytes() : v;
    }
    case 4:
        return bad_pointer();
    default:
        return ~0ull;
    }
}

static uint64_t bogus_port(void)
{
    static const uint64_t ports[] = { 0, DOMUS_NR_EVENT_CHANNELS, DOMUS_NR_EVENT_CHANNELS + 1, 4095,
        4096, 65535, 0x7fffffff, 0xffffffff, 0x100000000ull, ~0ull };
    return ports[rnd() % (sizeof ports / sizeof ports[0])];
}

static uint64_t bogus_vcpu(void)
{
    unsigned n = domus_vcpu_count();
    static const uint64_t ids[] = { DOMUS_MAX_VCPUS, DOMUS_MAX_VCPUS + 1, 1000, 0xffffffffu,
        0x7fffffff, 0x100000000ull, ~0ull };
    if (rnd() % 3 == 0)
        return n + rnd() % (DOMUS_MAX_VCPUS + 1 - n); /* valid-looking but not ours */
    return ids[rnd() % (sizeof ids / sizeof ids[0])];
}

static void fill_scratch(void)
{
    for (size_t i = 0; i < sizeof scratch; i += 8) {
        uint64_t v = rnd();
        memcpy(scratch + i, &v, 8);
    }
}

/* Builds one call; returns 0 if this combination is excluded (see the top). */
static int make_call(unsigned* nr, uint64_t a[5])
{
    *nr = rnd() % 128;
    for (int i = 0; i < 5; ++i)
        a[i] = any_value();
    switch (*nr) {
    case __HYPERVISOR_set_timer_op:
        return 0;
    case __HYPERVISOR_sched_op: {
        static const uint64_t allowed[] = { SCHEDOP_yield, 6, 7, 63, 65, 0xffffffff, ~0ull };
        a[0] = allowed[rnd() % (sizeof allowed / sizeof allowed[0])];
        return 1;
    }
    case __HYPERVISOR_vcpu_op:
        a[0] = rnd() % 16;
        if (a[0] <= VCPUOP_down || a[0] == VCPUOP_set_singleshot_timer
            || a[0] == VCPUOP_stop_singleshot_timer || a[0] == VCPUOP_register_vcpu_info)
            a[1] = bogus_vcpu();
        else if (rnd() % 2)
            a[1] = rnd() % domus_vcpu_count();
        a[2] = bad_pointer();
        return 1;
    case __HYPERVISOR_callback_op:
        a[0] = 2 + rnd() % 8;
        return 1;
    case __HYPERVISOR_set_segment_base:
        a[0] = rnd() % 2 ? SEGBASE_FS : 4 + rnd() % 8;
        return 1;
    case __HYPERVISOR_event_channel_op:
        a[0] = rnd() % 12;
        if (a[0] == EVTCHNOP_close || a[0] == EVTCHNOP_bind_vcpu)
            a[1] = invalid_pointer();
        else
            a[1] = bad_pointer();
        return 1;
    case __HYPERVISOR_memory_op:
        a[0] = rnd() % 10;
        a[1] = a[0] == XENMEM_decrease_reservation ? invalid_pointer() : bad_pointer();
        return 1;
    case __HYPERVISOR_console_io:
        a[0] = rnd() % 4;
        if (a[0] == CONSOLEIO_write)
            a[2] = invalid_pointer();
        else
            a[2] = bad_pointer();
        a[1] = rnd() % 3 ? rnd() % 8192 : any_value();
        return 1;
    case __HYPERVISOR_xen_version:
    case __HYPERVISOR_grant_table_op:
        a[1] = bad_pointer();
        return 1;
    case __HYPERVISOR_domus_notify:
        a[0] = rnd() % 2 ? bogus_port() : rnd() % DOMUS_NR_EVENT_CHANNELS;
        return 1;
    default:
        return 1;
    }
}

/* Targeted garbage: bogus ports and vCPU ids through well-formed structures. */
static long targeted(unsigned i)
{
    switch (i % 6) {
    case 0: {
        struct evtchn_send op = { (evtchn_port_t)bogus_port() };
        return domus_hypercall(
            __HYPERVISOR_event_channel_op, EVTCHNOP_send, (unsigned long)&op, 0, 0, 0);
    }
    case 1: {
        struct evtchn_unmask op = { (evtchn_port_t)bogus_port() };
        return domus_hypercall(
            __HYPERVISOR_event_channel_op, EVTCHNOP_unmask, (unsigned long)&op, 0, 0, 0);
    }
    case 2: {
        struct evtchn_status op;
        memset(&op, 0, sizeof op);
        op.dom = rnd() % 2 ? DOMID_SELF : (domid_t)rnd();
        op.port = (evtchn_port_t)bogus_port();
        return domus_hypercall(
            __HYPERVISOR_event_channel_op, EVTCHNOP_status, (unsigned long)&op, 0, 0, 0);
    }
    case 3: {
        struct evtchn_bind_ipi op = { (uint32_t)bogus_vcpu(), 0 };
        return domus_hypercall(
            __HYPERVISOR_event_channel_op, EVTCHNOP_bind_ipi, (unsigned long)&op, 0, 0, 0);
    }
    case 4: {
        struct evtchn_bind_virq op = { (uint32_t)(rnd() % 64), (uint32_t)bogus_vcpu(), 0 };
        return domus_hypercall(
            __HYPERVISOR_event_channel_op, EVTCHNOP_bind_virq, (unsigned long)&op, 0, 0, 0);
    }
    default:
        return domus_hypercall(__HYPERVISOR_vcpu_op, VCPUOP_is_up, bogus_vcpu(), 0, 0, 0);
    }
}

int main(void)
{
    char value[32];
    long count = 4000;
    if (domus_cmdline_get("count", value, sizeof value))
        count = strtol(value, NULL, 10);
    int verbose = domus_cmdline_get("verbose", value, sizeof value) != NULL;
    if (domus_cmdline_get("seed", value, sizeof value))
        rng_state = strtoull(value, NULL, 0);
    else
        rng_state ^= domus_monotonic_ns();
    long calls = 0, errors = 0, skipped = 0;
    for (long i = 0; i < count; ++i) {
        fill_scratch();
        long rc;
        if (i % 4 == 3) {
            rc = targeted((unsigned)i / 4);
        } else {
            unsigned nr;
            uint64_t a[5];
            if (!make_call(&nr, a)) {
                ++skipped;
                continue;
            }
            /* Stubs the monitor did not fill are still int3 (or zero): calling
             * those would only test our own image. */
            unsigned char first = (unsigned char)hypercall_page[nr * 32];
            if (first == 0xcc || first == 0x00) {
                ++skipped;
                continue;
            }
            rc = domus_hypercall(nr, a[0], a[1], a[2], a[3], a[4]);
            if (verbose)
                printf("hostile: nr=%u %#lx %#lx %#lx %#lx %#lx -> %ld\n", nr, (unsigned long)a[0],
                    (unsigned long)a[1], (unsigned long)a[2], (unsigned long)a[3],
                    (unsigned long)a[4], rc);
        }
        ++calls;
        if (rc < 0)
            ++errors;
        if (i % 1000 == 999)
            domus_yield();
    }
    /* Still healthy? Time moves, threads switch, the console works. */
    uint64_t t0 = domus_monotonic_ns();
    domus_sleep_ms(2);
    if (domus_monotonic_ns() - t0 < 2000000) {
        printf("hostile: FAIL clock or timer broken\n");
        return 1;
    }
    printf("hostile: survived %ld calls, %ld errors (%ld excluded)\n", calls, errors, skipped);
    return 0;
}
