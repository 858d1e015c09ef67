// The hypercall families, one source file each; dispatch.cpp is the one table that
// maps hypercall numbers onto them. Handlers answer 0/positive or -XEN_E*, never throw
// and never allocate: guest input is copied into fixed-size buffers, checked, acted on.
#pragma once

#include <cstdint>

#include "monitor/hypercalls/args.hpp"
#include "monitor/hypercalls/host.hpp"

namespace domus::monitor::hypercalls {

inline constexpr std::int64_t kOk = 0;

inline bool is_self(std::uint64_t dom, domid_t self) noexcept {
    return dom == DOMID_SELF || dom == self;
}

std::int64_t console_io(HypercallDomain& domain, ConsoleIoArgs args) noexcept;
std::int64_t sched_op(HypercallDomain& domain, HypercallVcpu& caller, SchedOpArgs args) noexcept;
std::int64_t set_timer_op(HypercallDomain& domain, HypercallVcpu& caller,
                          SetTimerOpArgs args) noexcept;
std::int64_t vcpu_op(HypercallDomain& domain, HypercallVcpu& caller, VcpuOpArgs args) noexcept;
std::int64_t callback_op(HypercallDomain& domain, HypercallVcpu& caller,
                         CallbackOpArgs args) noexcept;
std::int64_t set_segment_base(HypercallVcpu& caller, SetSegmentBaseArgs args) noexcept;
std::int64_t event_channel_op(HypercallDomain& domain, EventChannelOpArgs args) noexcept;
std::int64_t grant_table_op(HypercallDomain& domain, GrantTableOpArgs args) noexcept;
std::int64_t memory_op(HypercallDomain& domain, MemoryOpArgs args) noexcept;
std::int64_t xen_version(HypercallDomain& domain, XenVersionArgs args) noexcept;

// A wild timer deadline becomes 100 ms from now, as in Xen (shared by sched and vCPU).
std::uint64_t sane_deadline(const GuestClock& clock, std::uint64_t deadline) noexcept;

}  // namespace domus::monitor::hypercalls
