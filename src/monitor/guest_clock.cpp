// GuestClock implementation: TSC scaling and seqlock publication.
#include "monitor/guest_clock.hpp"

#include <time.h>
#include <x86intrin.h>

#include <atomic>

namespace domus::monitor {

std::uint64_t host_monotonic_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
}

static std::uint64_t host_realtime_ns() noexcept {
    timespec ts;
    ::clock_gettime(CLOCK_REALTIME, &ts);
    return std::uint64_t(ts.tv_sec) * 1'000'000'000 + std::uint64_t(ts.tv_nsec);
}

TscScale tsc_scale_for(std::uint64_t tsc_hz) noexcept {
    constexpr std::uint64_t kNsPerSecond = 1'000'000'000;
    std::uint64_t ticks = tsc_hz ? tsc_hz : 1;  // a stopped TSC is no rate; avoid looping
    int shift = 0;
    while (ticks > 2 * kNsPerSecond) {
        ticks >>= 1;
        --shift;
    }
    while (ticks <= kNsPerSecond) {
        ticks <<= 1;
        ++shift;
    }
    // ticks is now in (1e9, 2e9]: mul = 1e9 / ticks as a 0.32 fraction, below 1.
    TscScale scale;
    scale.mul = std::uint32_t((kNsPerSecond << 32) / ticks);
    scale.shift = std::int8_t(shift);
    return scale;
}

std::uint64_t scale_delta(std::uint64_t delta, TscScale scale) noexcept {
    if (scale.shift < 0)
        delta >>= -scale.shift;
    else
        delta <<= scale.shift;
    return std::uint64_t((unsigned __int128)delta * scale.mul >> 32);
}

GuestClock::GuestClock(std::uint64_t tsc_khz) {
    if (tsc_khz == 0) {
        std::uint64_t t0 = host_monotonic_ns(), c0 = __rdtsc();
        timespec pause{0, 5'000'000};
        ::nanosleep(&pause, nullptr);
        std::uint64_t t1 = host_monotonic_ns(), c1 = __rdtsc();
        tsc_hz_ = (c1 - c0) * 1'000'000'000 / (t1 > t0 ? t1 - t0 : 1);
        if (tsc_hz_ == 0) tsc_hz_ = 1'000'000'000;  // no TSC progress: assume 1 GHz
    } else {
        tsc_hz_ = tsc_khz * 1000;
    }
    scale_ = tsc_scale_for(tsc_hz_);
    host_anchor_ns_ = host_monotonic_ns();
    tsc_anchor_ = __rdtsc();
    wall_origin_ns_ = host_realtime_ns();
}

void GuestClock::continue_from(std::uint64_t system_ns) noexcept {
    anchor_ns_ = system_ns;
    host_anchor_ns_ = host_monotonic_ns();
    tsc_anchor_ = __rdtsc();
    wall_origin_ns_ = host_realtime_ns() - system_ns;
}

std::uint64_t GuestClock::now_ns() const noexcept {
    return anchor_ns_ + scale_delta(__rdtsc() - tsc_anchor_, scale_);
}

void GuestClock::publish(vcpu_time_info& info) const noexcept {
    // Seqlock writer: odd version, then the fields, then even version. The release
    // fences order the field stores after the first bump and before the second.
    std::atomic_ref<std::uint32_t> version(info.version);
    std::uint32_t v = version.load(std::memory_order_relaxed);
    version.store(v | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    info.tsc_timestamp = tsc_anchor_;
    info.system_time = anchor_ns_;
    info.tsc_to_system_mul = scale_.mul;
    info.tsc_shift = scale_.shift;
    info.flags = XEN_PVCLOCK_TSC_STABLE_BIT;
    std::atomic_thread_fence(std::memory_order_release);
    version.store((v | 1) + 1, std::memory_order_relaxed);
}

void GuestClock::publish_wallclock(shared_info& shared) const noexcept {
    std::atomic_ref<std::uint32_t> version(shared.wc_version);
    std::uint32_t v = version.load(std::memory_order_relaxed);
    version.store(v | 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    std::uint64_t seconds = wall_origin_ns_ / 1'000'000'000;
    shared.wc_sec = std::uint32_t(seconds);
    shared.wc_sec_hi = std::uint32_t(seconds >> 32);
    shared.wc_nsec = std::uint32_t(wall_origin_ns_ % 1'000'000'000);
    std::atomic_thread_fence(std::memory_order_release);
    version.store((v | 1) + 1, std::memory_order_relaxed);
}

}  // namespace domus::monitor
