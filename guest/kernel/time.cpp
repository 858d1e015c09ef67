// pvclock reader (seqlock protocol) and wall clock (see time.hpp).
#include "time.hpp"

#include "arch.hpp"
#include "boot_info.hpp"
#include "percpu.hpp"

namespace domus::guest {

namespace {

    uint64_t last_ns; // the largest value handed out, so that vCPU clocks never go back

    const vcpu_time_info* time_info(Cpu* cpu)
    {
        // Normally the registered copy in the per-vCPU area; the legacy slot if the monitor
        // has not published time there.
        if (cpu && __atomic_load_n(&cpu->vi.time.tsc_to_system_mul, __ATOMIC_RELAXED))
            return &cpu->vi.time;
        unsigned id = cpu ? cpu->id : 0;
        return &boot.shared->vcpu_info[id < XEN_LEGACY_MAX_VCPUS ? id : 0].time;
    }

    uint64_t read_pvclock(const vcpu_time_info* t)
    {
        uint32_t version;
        uint64_t tsc, stamp, system;
        uint32_t mul;
        int8_t shift;
        do {
            version = __atomic_load_n(&t->version, __ATOMIC_ACQUIRE);
            stamp = t->tsc_timestamp;
            system = t->system_time;
            mul = t->tsc_to_system_mul;
            shift = t->tsc_shift;
            tsc = rdtsc_ordered();
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
        } while ((version & 1) || version != __atomic_load_n(&t->version, __ATOMIC_ACQUIRE));
        uint64_t delta = tsc - stamp;
        if (tsc < stamp)
            delta = 0;
        if (shift < 0)
            delta >>= -shift;
        else
            delta <<= shift;
        return system + uint64_t((unsigned __int128)delta * mul >> 32);
    }

} // namespace

void init_time() { __atomic_store_n(&last_ns, 0, __ATOMIC_RELAXED); }

uint64_t monotonic_ns()
{
    uint64_t now = read_pvclock(time_info(this_cpu()));
    uint64_t last = __atomic_load_n(&last_ns, __ATOMIC_RELAXED);
    while (now > last) {
        if (__atomic_compare_exchange_n(
                &last_ns, &last, now, true, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            return now;
    }
    return last > now ? last : now;
}

uint64_t wallclock_ns()
{
    const shared_info* s = boot.shared;
    uint32_t version;
    uint64_t sec, nsec;
    do {
        version = __atomic_load_n(&s->wc_version, __ATOMIC_ACQUIRE);
        sec = (uint64_t(s->wc_sec_hi) << 32) | s->wc_sec;
        nsec = s->wc_nsec;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
    } while ((version & 1) || version != __atomic_load_n(&s->wc_version, __ATOMIC_ACQUIRE));
    return sec * 1'000'000'000ull + nsec + monotonic_ns();
}

} // namespace domus::guest
