/* vcpu_test: CPU-bound work on every online vCPU, round after round, while the toolstack
 * takes vCPUs offline and brings them back (domus vcpu-set).
 *
 * Command line: rounds=N (default 0: until shut down), work_ms=M (default 20).
 * Each round runs two unbound workers per online vCPU and one worker bound to each online
 * vCPU, each spinning M ms of CPU in small steps and noting the vCPU of every step, and a
 * sleeper bound to each online vCPU (4 sleeps of 5 ms, counting any that end early); it
 * joins them all (a thread stranded on an offline vCPU would stop the rounds). It reports
 * in data/vcpus (and on the console):
 *   "round=<r> online=<count> mask=<hex> ran=<hex: vCPUs that ran steps> max=<maxvcpus>
 *    nproc=<sysconf online>/<sysconf configured> early=<early wake-ups so far>"
 * then "PASS" after the last round. */
#include <domus/guest.h>
#include <domus/xenbus.h>
#include <stdarg.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void report(const char* fmt, ...)
{
    char line[160];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    printf("vcpu_test: %s\n", line);
    if (xenbus_available())
        xenbus_write(XBT_NIL, "data/vcpus", line);
}

static uint64_t ran_mask; /* vCPUs that ran a step this round (atomics) */
static uint64_t work_ns;

static unsigned early_wakeups; /* sleeps that returned before their deadline (atomics) */

/* Sleeps in 5 ms steps bound to its vCPU: one taken offline wakes its sleepers early,
 * and they must sleep again elsewhere until their deadline. */
static void sleeper(void* arg)
{
    (void)arg;
    for (int i = 0; i < 4; ++i) {
        uint64_t deadline = domus_monotonic_ns() + 5000000;
        domus_sleep_until(deadline);
        if (domus_monotonic_ns() < deadline)
            __atomic_fetch_add(&early_wakeups, 1, __ATOMIC_RELAXED);
    }
}

static void worker(void* arg)
{
    (void)arg;
    uint64_t spun = 0;
    while (spun < work_ns) {
        uint64_t start = domus_monotonic_ns();
        __atomic_fetch_or(&ran_mask, 1ull << domus_vcpu_id(), __ATOMIC_RELAXED);
        while (domus_monotonic_ns() - start < 200000) /* 0.2 ms steps */
            ;
        spun += domus_monotonic_ns() - start;
    }
}

int main(void)
{
    uint64_t rounds = domus_cmdline_u64("rounds", 0);
    work_ns = domus_cmdline_u64("work_ms", 20) * 1000000ull;
    static domus_thread_t* threads[4 * 64];
    for (uint64_t round = 1; rounds == 0 || round <= rounds; ++round) {
        __atomic_store_n(&ran_mask, 0, __ATOMIC_RELAXED);
        uint64_t mask = domus_vcpu_online_mask();
        unsigned online = (unsigned)__builtin_popcountll(mask);
        unsigned n = 0;
        for (unsigned i = 0; i < 2 * online; ++i) {
            domus_thread_attr_t attr = { "unbound", 16384, DOMUS_ANY_VCPU, 0 };
            threads[n++] = domus_thread_create(worker, NULL, &attr);
        }
        for (unsigned v = 0; v < 64; ++v) {
            if (!(mask & (1ull << v)))
                continue;
            domus_thread_attr_t attr = { "bound", 16384, (int)v, 0 };
            threads[n++] = domus_thread_create(worker, NULL, &attr);
            attr.name = "sleeper";
            threads[n++] = domus_thread_create(sleeper, NULL, &attr);
        }
        for (unsigned i = 0; i < n; ++i) {
            if (!threads[i]) {
                report("FAIL no memory for thread %u", i);
                return 1;
            }
            domus_thread_join(threads[i]);
        }
        report("round=%llu online=%u mask=%llx ran=%llx max=%u nproc=%ld/%ld early=%u",
            (unsigned long long)round, online, (unsigned long long)mask,
            (unsigned long long)ran_mask, domus_vcpu_max(), sysconf(_SC_NPROCESSORS_ONLN),
            sysconf(_SC_NPROCESSORS_CONF), __atomic_load_n(&early_wakeups, __ATOMIC_RELAXED));
    }
    report("PASS");
    return 0;
}
