// Typed hypercall wrappers. A hypercall is a call into the monitor-filled hypercall
// page (stub nr at hypercall_page + 32 * nr) with arguments in RDI, RSI, RDX, R10, R8
// and the result in RAX; RCX, R11 and the argument registers are clobbered. Every call
// is a VM exit (~30 us), except domus_notify to a port a backend listens on (~3 us).
#pragma once

#include <domus/abi/console.h>
#include <domus/abi/event_channel.h>
#include <domus/abi/memory.h>
#include <domus/abi/sched.h>
#include <domus/abi/vcpu.h>
#include <domus/abi/xen.h>
#include <stdint.h>

extern "C" char hypercall_page[4096];

namespace domus::guest {

// The `call` pushes a return address: step over the 128-byte red zone first, in case
// the caller is a leaf function keeping data below RSP.
inline long hypercall_raw(unsigned nr, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
    uint64_t a4 = 0, uint64_t a5 = 0)
{
    register uint64_t r10 asm("r10") = a4;
    register uint64_t r8 asm("r8") = a5;
    long ret;
    void* stub = hypercall_page + uint64_t(nr) * DOMUS_HYPERCALL_STUB_SIZE;
    asm volatile("lea -128(%%rsp), %%rsp\n\t"
                 "call *%[stub]\n\t"
                 "lea 128(%%rsp), %%rsp"
                 : "=a"(ret), "+D"(a1), "+S"(a2), "+d"(a3), "+r"(r10), "+r"(r8)
                 : [stub] "b"(stub)
                 : "rcx", "r11", "memory", "cc");
    return ret;
}

template <typename T> inline uint64_t ptr_arg(T* p) { return reinterpret_cast<uint64_t>(p); }

inline long hyp_xen_version(int cmd, void* arg = nullptr)
{
    return hypercall_raw(__HYPERVISOR_xen_version, uint64_t(cmd), ptr_arg(arg));
}
inline long hyp_console_write(const char* buf, uint64_t len)
{
    return hypercall_raw(__HYPERVISOR_console_io, CONSOLEIO_write, len, ptr_arg(buf));
}
inline long hyp_set_timer_op(uint64_t deadline_ns)
{
    return hypercall_raw(__HYPERVISOR_set_timer_op, deadline_ns);
}
inline long hyp_sched_op(int cmd, void* arg = nullptr)
{
    return hypercall_raw(__HYPERVISOR_sched_op, uint64_t(cmd), ptr_arg(arg));
}
inline long hyp_vcpu_op(int cmd, uint32_t vcpu, void* arg = nullptr)
{
    return hypercall_raw(__HYPERVISOR_vcpu_op, uint64_t(cmd), vcpu, ptr_arg(arg));
}
inline long hyp_set_segment_base(int which, uint64_t base)
{
    return hypercall_raw(__HYPERVISOR_set_segment_base, uint64_t(which), base);
}
inline long hyp_callback_op(int cmd, void* arg)
{
    return hypercall_raw(__HYPERVISOR_callback_op, uint64_t(cmd), ptr_arg(arg));
}
inline long hyp_event_channel_op(int cmd, void* arg)
{
    return hypercall_raw(__HYPERVISOR_event_channel_op, uint64_t(cmd), ptr_arg(arg));
}
inline long hyp_memory_op(int cmd, void* arg)
{
    return hypercall_raw(__HYPERVISOR_memory_op, uint64_t(cmd), ptr_arg(arg));
}
// Doorbell: raises `port` (for a backend port without leaving the kernel). Returns 0.
inline long hyp_domus_notify(evtchn_port_t port)
{
    return hypercall_raw(__HYPERVISOR_domus_notify, port);
}

} // namespace domus::guest
