// The hypercall table: hypercall number -> family handler, with each handler's typed
// view of the argument registers built here, once.
#include "monitor/hypercalls.hpp"
#include "monitor/hypercalls/families.hpp"

namespace domus::monitor {

std::int64_t dispatch_hypercall(HypercallDomain& domain, HypercallVcpu& caller, std::uint32_t nr,
                                const HypercallRegs& regs) noexcept {
    using namespace hypercalls;
    switch (nr) {
        case __HYPERVISOR_console_io:
            return console_io(domain, ConsoleIoArgs{regs});
        case __HYPERVISOR_sched_op:
            return sched_op(domain, caller, SchedOpArgs{regs});
        case __HYPERVISOR_set_timer_op:
            return set_timer_op(domain, caller, SetTimerOpArgs{regs});
        case __HYPERVISOR_vcpu_op:
            return vcpu_op(domain, caller, VcpuOpArgs{regs});
        case __HYPERVISOR_event_channel_op:
            return event_channel_op(domain, EventChannelOpArgs{regs});
        case __HYPERVISOR_grant_table_op:
            return grant_table_op(domain, GrantTableOpArgs{regs});
        case __HYPERVISOR_memory_op:
            return memory_op(domain, MemoryOpArgs{regs});
        case __HYPERVISOR_xen_version:
            return xen_version(domain, XenVersionArgs{regs});
        case __HYPERVISOR_callback_op:
            return callback_op(domain, caller, CallbackOpArgs{regs});
        case __HYPERVISOR_set_segment_base:
            return set_segment_base(caller, SetSegmentBaseArgs{regs});
        default:
            // Counted, not logged: formatting a log line could allocate (--stats shows it).
            domain.count_unknown_hypercall();
            return -XEN_ENOSYS;
    }
}

}  // namespace domus::monitor
