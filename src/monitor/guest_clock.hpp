// GuestClock: the domain's system time (ns since the domain was created) derived from
// the host TSC, and its publication into vcpu_time_info with Xen's seqlock protocol.
#pragma once

#include <cstdint>

#include <domus/abi/shared_info.h>

namespace domus::monitor {

struct TscScale {
    std::uint32_t mul = 0;  // 0.32 fixed point
    std::int8_t shift = 0;
};

// Xen's scaling: ns = ((tsc_delta shifted by shift) * mul) >> 32. Pure.
TscScale tsc_scale_for(std::uint64_t tsc_hz) noexcept;
std::uint64_t scale_delta(std::uint64_t tsc_delta, TscScale scale) noexcept;

class GuestClock {
public:
    // Calibrates against CLOCK_MONOTONIC when tsc_khz is 0.
    explicit GuestClock(std::uint64_t tsc_khz);

    std::uint64_t tsc_khz() const noexcept { return tsc_hz_ / 1000; }
    std::uint64_t now_ns() const noexcept;  // system time
    // Host CLOCK_MONOTONIC nanoseconds of a system time (for host timers).
    std::uint64_t to_host_monotonic_ns(std::uint64_t system_ns) const noexcept {
        return host_anchor_ns_ + (system_ns - anchor_ns_);
    }
    // A restored domain: system time goes on from `system_ns` (its value when the domain
    // was saved) on this host's TSC, so it never goes back; the time spent saved does not
    // count. The wallclock becomes this host's real time. Call before any vCPU runs, then
    // publish() and publish_wallclock().
    void continue_from(std::uint64_t system_ns) noexcept;
    void publish(vcpu_time_info& info) const noexcept;
    void publish_wallclock(shared_info& shared) const noexcept;

private:
    std::uint64_t tsc_hz_;
    TscScale scale_;
    // System time anchor_ns_ was host TSC tsc_anchor_ and host time host_anchor_ns_.
    std::uint64_t anchor_ns_ = 0;
    std::uint64_t tsc_anchor_;
    std::uint64_t host_anchor_ns_;
    std::uint64_t wall_origin_ns_;  // the wallclock of system time 0
};

std::uint64_t host_monotonic_ns() noexcept;

}  // namespace domus::monitor
