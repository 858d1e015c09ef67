// Hypercall handlers. Pattern: copy the argument structure out of guest memory
// (-EFAULT if it is not all inside), check every field, act, copy results back.
#include "monitor/hypercalls.hpp"

#include <sched.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "base/log.hpp"
#include "monitor/domain.hpp"

#include <domus/abi/console.h>
#include <domus/abi/event_channel.h>
#include <domus/abi/grant_table.h>
#include <domus/abi/memory.h>
#include <domus/abi/sched.h>
#include <domus/abi/vcpu.h>
#include <domus/abi/version.h>

namespace domus::monitor {
namespace {

constexpr std::int64_t kOk = 0;
constexpr std::uint64_t kTimerSlackLimit = 1ull << 50;  // Xen: beyond this a deadline is a bug

bool is_self(std::uint64_t dom, domid_t self) {
    return dom == DOMID_SELF || dom == self;
}

// ---- console_io --------------------------------------------------------------------
std::int64_t console_io(Domain& domain, const HypercallArgs& args) {
    std::uint64_t count = std::min<std::uint64_t>(args.a2, DOMUS_CONSOLEIO_MAX);
    switch (args.a1) {
        case CONSOLEIO_write: {
            auto bytes = domain.memory().range(args.a3, count);
            if (!bytes) return -XEN_EFAULT;
            if (count == 0) return 0;  // (a zero-length vector's data() may be null)
            std::vector<char> copy(count);
            std::memcpy(copy.data(), bytes->data(), count);
            domain.console().write_direct(copy.data(), copy.size());
            return std::int64_t(count);
        }
        case CONSOLEIO_read: {
            auto bytes = domain.memory().range(args.a3, count);
            if (!bytes) return -XEN_EFAULT;
            if (count == 0) return 0;
            std::vector<char> copy(count);
            std::size_t n = domain.console().read_direct(copy.data(), copy.size());
            std::memcpy(bytes->data(), copy.data(), n);
            return std::int64_t(n);
        }
        default:
            return -XEN_ENOSYS;
    }
}

// ---- sched_op -----------------------------------------------------------------------
std::int64_t shutdown(Domain& domain, std::uint32_t reason, std::uint32_t code) {
    switch (reason) {
        case SHUTDOWN_poweroff:
            domain.stop({ExitKind::poweroff, code, {}});
            return kOk;
        case SHUTDOWN_reboot:
            domain.stop({ExitKind::reboot, 0, {}});
            return kOk;
        case SHUTDOWN_crash:
            domain.stop({ExitKind::crash, code, "the guest reported a crash"});
            return kOk;
        case SHUTDOWN_watchdog:
            domain.stop({ExitKind::watchdog, 0, "watchdog"});
            return kOk;
        case SHUTDOWN_suspend:
            return -XEN_EOPNOTSUPP;  // needs a toolstack to save to
        default:
            return -XEN_EINVAL;
    }
}

std::int64_t poll_ports(Domain& domain, VcpuRunner& vcpu, std::uint64_t arg) {
    struct sched_poll poll;
    if (!domain.memory().read(arg, poll)) return -XEN_EFAULT;
    if (poll.nr_ports == 0 || poll.nr_ports > SCHED_POLL_MAX_PORTS) return -XEN_EINVAL;
    evtchn_port_t ports[SCHED_POLL_MAX_PORTS];
    auto bytes =
        domain.memory().range(poll.ports, std::uint64_t(poll.nr_ports) * sizeof(evtchn_port_t));
    if (!bytes) return -XEN_EFAULT;
    std::memcpy(ports, bytes->data(), bytes->size());
    for (std::uint32_t i = 0; i < poll.nr_ports; ++i)
        if (ports[i] == 0 || ports[i] >= EventChannels::kNrPorts) return -XEN_EINVAL;
    auto& events = domain.events();
    vcpu.block_until([&] { return events.any_pending(ports, poll.nr_ports); }, poll.timeout);
    return kOk;
}

std::int64_t sched_op(Domain& domain, VcpuRunner& vcpu, const HypercallArgs& args) {
    switch (args.a1) {
        case SCHEDOP_yield:
            ::sched_yield();
            return kOk;
        case SCHEDOP_block: {
            vcpu_info* info = domain.vcpu_info_of(vcpu.index());
            if (!info) return -XEN_EINVAL;
            // Xen semantics: block re-enables upcalls, then sleeps unless one is pending.
            std::atomic_ref<std::uint8_t>(info->evtchn_upcall_mask).store(0);
            vcpu.block_until(
                [info] {
                    return std::atomic_ref<std::uint8_t>(info->evtchn_upcall_pending).load() != 0;
                },
                0);
            return kOk;
        }
        case SCHEDOP_shutdown: {
            sched_shutdown request;
            if (!domain.memory().read(args.a2, request)) return -XEN_EFAULT;
            return shutdown(domain, request.reason, 0);
        }
        case SCHEDOP_shutdown_code: {
            sched_shutdown request;
            if (!domain.memory().read(args.a2, request)) return -XEN_EFAULT;
            if (request.reason > SHUTDOWN_watchdog) return -XEN_EINVAL;
            domain.set_pending_crash_reason(request.reason);
            return kOk;
        }
        case SCHEDOP_domus_exit: {
            domus_sched_exit request;
            if (!domain.memory().read(args.a2, request)) return -XEN_EFAULT;
            if (request.reason != SHUTDOWN_poweroff && request.reason != SHUTDOWN_reboot &&
                request.reason != SHUTDOWN_crash)
                return -XEN_EINVAL;
            return shutdown(domain, request.reason, request.code);
        }
        case SCHEDOP_poll:
            return poll_ports(domain, vcpu, args.a2);
        default:
            return -XEN_ENOSYS;
    }
}

// ---- timers -------------------------------------------------------------------------
std::uint64_t sane_deadline(Domain& domain, std::uint64_t deadline) {
    std::uint64_t now = domain.clock().now_ns();
    if (std::int64_t(deadline) < 0 || (deadline > now && deadline - now > kTimerSlackLimit))
        return now + 100'000'000;  // as Xen: a wild deadline means 100 ms from now
    return deadline;
}

std::int64_t set_timer_op(Domain& domain, VcpuRunner& vcpu, std::uint64_t deadline) {
    vcpu.set_timer(deadline ? sane_deadline(domain, deadline) : 0);
    return kOk;
}

// ---- vcpu_op ------------------------------------------------------------------------
std::int64_t register_vcpu_info(Domain& domain, VcpuRunner& target, std::uint64_t arg) {
    vcpu_register_vcpu_info request;
    if (!domain.memory().read(arg, request)) return -XEN_EFAULT;
    if (request.offset > kPageSize - sizeof(vcpu_info) || request.offset % 8 != 0)
        return -XEN_EINVAL;
    if (request.mfn >= domain.nr_pages()) return -XEN_EINVAL;
    std::uint64_t gpa = request.mfn * kPageSize + request.offset;
    if (gpa < kImageBase) return -XEN_EINVAL;
    if (target.vcpu_info_registered()) return -XEN_EINVAL;  // once only, as in Xen
    vcpu_info* fresh = domain.memory().object<vcpu_info>(gpa);
    if (!fresh) return -XEN_EINVAL;
    if (vcpu_info* old = domain.vcpu_info_of(target.index())) {
        std::memcpy(fresh, old, sizeof(vcpu_info));
    } else {
        std::memset(fresh, 0, sizeof(vcpu_info));
        fresh->evtchn_upcall_mask = 1;
    }
    domain.clock().publish(fresh->time);
    target.set_vcpu_info_gpa(gpa);
    target.mark_vcpu_info_registered();
    domain.events().resync_vcpu(target.index());
    return kOk;
}

std::int64_t vcpu_op(Domain& domain, VcpuRunner& caller, const HypercallArgs& args) {
    VcpuRunner* target =
        args.a2 < domain.nr_vcpus() ? domain.vcpu(std::uint32_t(args.a2)) : nullptr;
    if (!target) return -XEN_ENOENT;
    switch (args.a1) {
        case VCPUOP_initialise: {
            domus_vcpu_context context;
            if (!domain.memory().read(args.a3, context)) return -XEN_EFAULT;
            if (context.rip < kImageBase || context.rip >= domain.layout().memory_size)
                return -XEN_EINVAL;
            if (context.rsp < kImageBase || context.rsp > domain.layout().memory_size)
                return -XEN_EINVAL;
            if ((context.fs_base >> 47) || (context.gs_base >> 47))
                return -XEN_EINVAL;  // canonical, lower half
            return target->initialise(context);
        }
        case VCPUOP_up:
            return target->bring_up();
        case VCPUOP_down:
            if (target != &caller)
                return -XEN_EINVAL;  // asynchronous down of others: not supported
            caller.go_down();
            return kOk;
        case VCPUOP_is_up:
            return target->is_up() ? 1 : 0;
        case VCPUOP_set_singleshot_timer: {
            if (target != &caller) return -XEN_EINVAL;
            vcpu_set_singleshot_timer timer;
            if (!domain.memory().read(args.a3, timer)) return -XEN_EFAULT;
            return set_timer_op(domain, caller, timer.timeout_abs_ns);
        }
        case VCPUOP_stop_singleshot_timer:
            if (target != &caller) return -XEN_EINVAL;
            caller.set_timer(0);
            return kOk;
        case VCPUOP_register_vcpu_info:
            return register_vcpu_info(domain, *target, args.a3);
        default:
            return -XEN_ENOSYS;
    }
}

// ---- event_channel_op ---------------------------------------------------------------
template <class T, class Op>
std::int64_t with_arg(Domain& domain, std::uint64_t gpa, Op op) {
    T arg;
    if (!domain.memory().read(gpa, arg)) return -XEN_EFAULT;
    int result = op(arg);
    if (result == 0 && !domain.memory().write(gpa, arg)) return -XEN_EFAULT;
    return result;
}

std::int64_t event_channel_op(Domain& domain, const HypercallArgs& args) {
    auto& events = domain.events();
    switch (args.a1) {
        case EVTCHNOP_alloc_unbound:
            return with_arg<evtchn_alloc_unbound>(domain, args.a2, [&](auto& a) {
                return events.alloc_unbound(a.dom, a.remote_dom, a.port);
            });
        case EVTCHNOP_bind_interdomain:
            return with_arg<evtchn_bind_interdomain>(domain, args.a2, [&](auto& a) {
                return events.bind_interdomain(a.remote_dom, a.remote_port, a.local_port);
            });
        case EVTCHNOP_bind_virq:
            return with_arg<evtchn_bind_virq>(
                domain, args.a2, [&](auto& a) { return events.bind_virq(a.virq, a.vcpu, a.port); });
        case EVTCHNOP_bind_ipi:
            return with_arg<evtchn_bind_ipi>(
                domain, args.a2, [&](auto& a) { return events.bind_ipi(a.vcpu, a.port); });
        case EVTCHNOP_bind_vcpu:
            return with_arg<evtchn_bind_vcpu>(
                domain, args.a2, [&](auto& a) { return events.bind_vcpu(a.port, a.vcpu); });
        case EVTCHNOP_close:
            return with_arg<evtchn_close>(domain, args.a2,
                                          [&](auto& a) { return events.close(a.port); });
        case EVTCHNOP_send:
            return with_arg<evtchn_send>(domain, args.a2,
                                         [&](auto& a) { return events.send(a.port); });
        case EVTCHNOP_unmask:
            return with_arg<evtchn_unmask>(domain, args.a2,
                                           [&](auto& a) { return events.unmask(a.port); });
        case EVTCHNOP_status:
            return with_arg<evtchn_status>(domain, args.a2,
                                           [&](auto& a) { return events.status(a); });
        default:
            return -XEN_ENOSYS;
    }
}

// ---- grant_table_op (grant_table.h) ---------------------------------------------------
std::int64_t grant_table_op(Domain& domain, const HypercallArgs& args) {
    GrantTable& grants = domain.grants();
    const std::uint64_t count = args.a3;
    if (count > DOMUS_GNTTAB_MAX_BATCH) return -XEN_EINVAL;
    // Each element of the array: copy in, act on the copy, copy it back with its status.
    auto each = [&](auto element, auto op) -> std::int64_t {
        for (std::uint64_t i = 0; i < count; ++i) {
            std::uint64_t gpa = args.a2 + i * sizeof(element);
            if (!domain.memory().read(gpa, element)) return -XEN_EFAULT;
            op(element);
            if (!domain.memory().write(gpa, element)) return -XEN_EFAULT;
        }
        return kOk;
    };
    switch (args.a1) {
        case GNTTABOP_domus_set_table:
            if (count != 1) return -XEN_EINVAL;
            return each(gnttab_domus_set_table{}, [&](auto& op) {
                op.status = grants.set_table(op.frame_list, op.nr_frames);
            });
        case GNTTABOP_query_size:
            return each(gnttab_query_size{}, [&](auto& op) {
                op.status = is_self(op.dom, domain.config().domid) ? GNTST_okay : GNTST_bad_domain;
                op.nr_frames = op.status == GNTST_okay ? grants.nr_frames() : 0;
                op.max_nr_frames = DOMUS_GNTTAB_MAX_FRAMES;
            });
        case GNTTABOP_copy:
            return each(gnttab_copy{}, [&](auto& op) { op.status = grants.copy(op); });
        default:
            return -XEN_ENOSYS;  // setup_table, map/unmap: see grant_table.h
    }
}

// ---- memory_op, xen_version, callbacks, segment bases ------------------------------
std::int64_t memory_op(Domain& domain, const HypercallArgs& args) {
    switch (args.a1) {
        case XENMEM_current_reservation:
        case XENMEM_maximum_reservation: {
            domid_t dom;
            if (!domain.memory().read(args.a2, dom)) return -XEN_EFAULT;
            if (!is_self(dom, domain.config().domid)) return -XEN_EPERM;
            return std::int64_t(domain.nr_pages());
        }
        default:
            return -XEN_ENOSYS;  // reservation changes come with ballooning
    }
}

std::int64_t xen_version(Domain& domain, const HypercallArgs& args) {
    switch (args.a1) {
        case XENVER_version:
            return DOMUS_ABI_VERSION;
        case XENVER_extraversion: {
            char text[16] = "-domus";
            return domain.memory().write(args.a2, text) ? kOk : -XEN_EFAULT;
        }
        case XENVER_get_features: {
            xen_feature_info info;
            if (!domain.memory().read(args.a2, info)) return -XEN_EFAULT;
            info.submap = info.submap_idx == 0 ? (1u << XENFEAT_auto_translated_physmap) : 0;
            return domain.memory().write(args.a2, info) ? kOk : -XEN_EFAULT;
        }
        case XENVER_pagesize:
            return XEN_PAGE_SIZE;
        default:
            return -XEN_ENOSYS;
    }
}

std::int64_t callback_op(Domain& domain, VcpuRunner& vcpu, const HypercallArgs& args) {
    callback_register request;
    if (!domain.memory().read(args.a2, request)) return -XEN_EFAULT;
    if (request.type != CALLBACKTYPE_event || request.flags != 0) return -XEN_EINVAL;
    switch (args.a1) {
        case CALLBACKOP_register:
            if (request.address < kImageBase || request.address >= domain.layout().memory_size)
                return -XEN_EINVAL;
            vcpu.set_upcall_entry(request.address);
            return kOk;
        case CALLBACKOP_unregister:
            vcpu.set_upcall_entry(0);
            return kOk;
        default:
            return -XEN_ENOSYS;
    }
}

std::int64_t set_segment_base(VcpuRunner& vcpu, const HypercallArgs& args) {
    if (args.a2 >> 47) return -XEN_EINVAL;
    auto sregs = vcpu.kvm().get_sregs();
    if (!sregs) return -XEN_EIO;
    switch (args.a1) {
        case SEGBASE_FS:
            sregs->fs.base = args.a2;
            break;
        case SEGBASE_GS_USER:
            sregs->gs.base = args.a2;
            break;
        default:
            return -XEN_EINVAL;
    }
    return vcpu.kvm().set_sregs(*sregs) ? kOk : -XEN_EIO;
}

}  // namespace

std::int64_t dispatch_hypercall(Domain& domain, VcpuRunner& vcpu, std::uint32_t nr,
                                const HypercallArgs& args) noexcept {
    switch (nr) {
        case __HYPERVISOR_console_io:
            return console_io(domain, args);
        case __HYPERVISOR_sched_op:
            return sched_op(domain, vcpu, args);
        case __HYPERVISOR_set_timer_op:
            return set_timer_op(domain, vcpu, args.a1);
        case __HYPERVISOR_vcpu_op:
            return vcpu_op(domain, vcpu, args);
        case __HYPERVISOR_event_channel_op:
            return event_channel_op(domain, args);
        case __HYPERVISOR_grant_table_op:
            return grant_table_op(domain, args);
        case __HYPERVISOR_memory_op:
            return memory_op(domain, args);
        case __HYPERVISOR_xen_version:
            return xen_version(domain, args);
        case __HYPERVISOR_callback_op:
            return callback_op(domain, vcpu, args);
        case __HYPERVISOR_set_segment_base:
            return set_segment_base(vcpu, args);
        default: {
            static log::RateLimit limit;
            if (limit.allow())
                DOMUS_LOG_DEBUG("vmm", "vcpu{}: unknown hypercall {}", vcpu.index(), nr);
            return -XEN_ENOSYS;
        }
    }
}

}  // namespace domus::monitor
