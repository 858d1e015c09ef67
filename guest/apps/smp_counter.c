/* Save/restore and migration test guest with several vCPUs: per vCPU, what ran there
 * counts, and every thread checks that its clock never goes back, across any number of
 * moves and vCPU hot-plugs. One worker bound to each vCPU the domain may have and as many
 * unbound ones; each spins 1 ms (counting steps on the vCPU it runs on) and then sleeps
 * 1 ms (that vCPU's timer must fire). Its figures go to the store every 20 ms:
 *   data/counter/status = "online=<hex mask> c0=<n> c1=<n> c2=<n> c3=<n> backwards=<b>
 *                          now=<ns>"
 * (c<v>: steps that ran on vCPU v, up to 4 vCPUs reported; now: domus_monotonic_ns). */
#include <domus/guest.h>
#include <domus/xenbus.h>
#include <stdint.h>
#include <stdio.h>

#define MAX_REPORTED 4

static uint64_t counts[64]; /* steps per vCPU (atomics) */
static uint64_t backwards; /* clock readings below the thread's previous one (atomics) */

static void worker(void* arg)
{
    (void)arg;
    uint64_t last = domus_monotonic_ns();
    for (;;) {
        uint64_t start = domus_monotonic_ns();
        if (start < last)
            __atomic_fetch_add(&backwards, 1, __ATOMIC_RELAXED);
        last = start;
        for (uint64_t now = start; now - start < 1000000; now = domus_monotonic_ns()) {
            if (now < last)
                __atomic_fetch_add(&backwards, 1, __ATOMIC_RELAXED);
            last = now;
            __atomic_fetch_add(&counts[domus_vcpu_id() % 64], 1, __ATOMIC_RELAXED);
        }
        domus_sleep_until(domus_monotonic_ns() + 1000000);
    }
}

int main(void)
{
    unsigned max = domus_vcpu_max();
    for (unsigned v = 0; v < max && v < 64; ++v) {
        domus_thread_attr_t bound = { "bound", 16384, (int)v, 1 };
        domus_thread_attr_t any = { "unbound", 16384, DOMUS_ANY_VCPU, 1 };
        if (!domus_thread_create(worker, NULL, &bound) || !domus_thread_create(worker, NULL, &any))
            printf("smp_counter: no memory for workers\n");
    }
    uint64_t last = domus_monotonic_ns();
    char status[200];
    for (;;) {
        uint64_t now = domus_monotonic_ns();
        if (now < last)
            __atomic_fetch_add(&backwards, 1, __ATOMIC_RELAXED);
        last = now;
        uint64_t c[MAX_REPORTED];
        for (unsigned v = 0; v < MAX_REPORTED; ++v)
            c[v] = __atomic_load_n(&counts[v], __ATOMIC_RELAXED);
        snprintf(status, sizeof status,
            "online=%llx c0=%llu c1=%llu c2=%llu c3=%llu backwards=%llu now=%llu",
            (unsigned long long)domus_vcpu_online_mask(), (unsigned long long)c[0],
            (unsigned long long)c[1], (unsigned long long)c[2], (unsigned long long)c[3],
            (unsigned long long)__atomic_load_n(&backwards, __ATOMIC_RELAXED),
            (unsigned long long)now);
        xenbus_write(XBT_NIL, "data/counter/status", status);
        domus_sleep_ms(20);
    }
}
