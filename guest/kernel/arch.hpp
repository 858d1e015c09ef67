// x86-64 helpers for a CPL3 kernel: barriers, TSC, CPUID, XCR0, FS/GS base.
// Nothing here needs privilege; CPUID exits to the host (~4 us), so call it at boot only.
#pragma once

#include <stdint.h>

namespace domus::guest {

inline void compiler_barrier() { asm volatile("" ::: "memory"); }
inline void cpu_relax() { asm volatile("pause" ::: "memory"); }

// rdtsc ordered after earlier loads (lfence), as the pvclock protocol needs.
inline uint64_t rdtsc_ordered()
{
    uint32_t lo, hi;
    asm volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
    return (uint64_t(hi) << 32) | lo;
}

inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t& a, uint32_t& b, uint32_t& c, uint32_t& d)
{
    asm volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(leaf), "c"(sub));
}

inline uint64_t xgetbv(uint32_t index)
{
    uint32_t lo, hi;
    asm volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(index));
    return (uint64_t(hi) << 32) | lo;
}

inline void wrgsbase(uint64_t base) { asm volatile("wrgsbase %0" ::"r"(base) : "memory"); }

} // namespace domus::guest
