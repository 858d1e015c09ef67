// Typed views of a hypercall's argument registers, one per hypercall (as NOVA's
// syscall.hpp does): each register is read through an accessor that says what it is,
// so a vCPU id can never be used as a guest address by mistake. Decoded once, unchecked.
#pragma once

#include <cstdint>

namespace domus::monitor {

// The argument registers in Xen's x86-64 order: RDI, RSI, RDX, R10, R8.
struct HypercallRegs {
    std::uint64_t a1, a2, a3, a4, a5;
};

// A guest-physical address the guest passed (still unchecked).
struct GuestAddr {
    std::uint64_t gpa;
};

// console_io(cmd, count, buffer)
struct ConsoleIoArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    std::uint64_t count() const noexcept { return r.a2; }
    GuestAddr buffer() const noexcept { return {r.a3}; }
};

// sched_op(cmd, struct *)
struct SchedOpArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    GuestAddr arg() const noexcept { return {r.a2}; }
};

// set_timer_op(deadline)
struct SetTimerOpArgs {
    const HypercallRegs& r;
    std::uint64_t deadline_ns() const noexcept { return r.a1; }
};

// vcpu_op(cmd, vcpu, struct *)
struct VcpuOpArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    std::uint64_t vcpu() const noexcept { return r.a2; }
    GuestAddr arg() const noexcept { return {r.a3}; }
};

// event_channel_op(cmd, struct *)
struct EventChannelOpArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    GuestAddr arg() const noexcept { return {r.a2}; }
};

// grant_table_op(cmd, struct array *, count)
struct GrantTableOpArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    GuestAddr array() const noexcept { return {r.a2}; }
    std::uint64_t count() const noexcept { return r.a3; }
};

// memory_op(cmd, struct *)
struct MemoryOpArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    GuestAddr arg() const noexcept { return {r.a2}; }
};

// xen_version(cmd, buffer *)
struct XenVersionArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    GuestAddr arg() const noexcept { return {r.a2}; }
};

// callback_op(cmd, struct callback_register *)
struct CallbackOpArgs {
    const HypercallRegs& r;
    std::uint64_t cmd() const noexcept { return r.a1; }
    GuestAddr arg() const noexcept { return {r.a2}; }
};

// set_segment_base(which, base)
struct SetSegmentBaseArgs {
    const HypercallRegs& r;
    std::uint64_t which() const noexcept { return r.a1; }
    std::uint64_t base() const noexcept { return r.a2; }
};

}  // namespace domus::monitor
