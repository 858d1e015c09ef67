// sched_op and set_timer_op: yield, block, poll, shutdown, and the one-shot timer.
// Blocking waits on the caller's own thread; the domain ends only through guest_shutdown.
#include <sched.h>

#include <atomic>
#include <cstring>

#include "monitor/hypercalls/families.hpp"

#include <domus/abi/sched.h>

namespace domus::monitor::hypercalls {
namespace {

constexpr std::uint64_t kTimerSlackLimit = 1ull << 50;  // Xen: beyond this a deadline is a bug

std::int64_t shutdown(HypercallDomain& domain, HypercallVcpu& caller, std::uint32_t reason,
                      std::uint32_t code) {
    switch (reason) {
        case SHUTDOWN_poweroff:
            domain.guest_shutdown(ExitKind::poweroff, code);
            return kOk;
        case SHUTDOWN_reboot:
            domain.guest_shutdown(ExitKind::reboot, 0);
            return kOk;
        case SHUTDOWN_crash:
            domain.guest_shutdown(ExitKind::crash, code);
            return kOk;
        case SHUTDOWN_watchdog:
            domain.guest_shutdown(ExitKind::watchdog, 0);
            return kOk;
        case SHUTDOWN_suspend:
            return domain.guest_suspend(caller.index());
        default:
            return -XEN_EINVAL;
    }
}

std::int64_t poll_ports(HypercallDomain& domain, HypercallVcpu& caller, GuestAddr arg) {
    struct sched_poll poll;
    if (!domain.memory().read(arg.gpa, poll)) return -XEN_EFAULT;
    if (poll.nr_ports == 0 || poll.nr_ports > SCHED_POLL_MAX_PORTS) return -XEN_EINVAL;
    evtchn_port_t ports[SCHED_POLL_MAX_PORTS];
    auto bytes =
        domain.memory().range(poll.ports, std::uint64_t(poll.nr_ports) * sizeof(evtchn_port_t));
    if (!bytes) return -XEN_EFAULT;
    std::memcpy(ports, bytes->data(), bytes->size());
    for (std::uint32_t i = 0; i < poll.nr_ports; ++i)
        if (ports[i] == 0 || ports[i] >= EventChannels::kNrPorts) return -XEN_EINVAL;
    auto& events = domain.events();
    caller.block_until([&] { return events.any_pending(ports, poll.nr_ports); }, poll.timeout);
    return kOk;
}

}  // namespace

std::uint64_t sane_deadline(const GuestClock& clock, std::uint64_t deadline) noexcept {
    std::uint64_t now = clock.now_ns();
    if (std::int64_t(deadline) < 0 || (deadline > now && deadline - now > kTimerSlackLimit))
        return now + 100'000'000;  // as Xen: a wild deadline means 100 ms from now
    return deadline;
}

std::int64_t set_timer_op(HypercallDomain& domain, HypercallVcpu& caller,
                          SetTimerOpArgs args) noexcept {
    std::uint64_t deadline = args.deadline_ns();
    caller.set_timer(deadline ? sane_deadline(domain.clock(), deadline) : 0);
    return kOk;
}

std::int64_t sched_op(HypercallDomain& domain, HypercallVcpu& caller, SchedOpArgs args) noexcept {
    switch (args.cmd()) {
        case SCHEDOP_yield:
            ::sched_yield();
            return kOk;
        case SCHEDOP_block: {
            vcpu_info* info = domain.vcpu_info_of(caller.index());
            if (!info) return -XEN_EINVAL;
            // Xen semantics: block re-enables upcalls, then sleeps unless one is pending.
            std::atomic_ref<std::uint8_t>(info->evtchn_upcall_mask).store(0);
            caller.block_until(
                [info] {
                    return std::atomic_ref<std::uint8_t>(info->evtchn_upcall_pending).load() != 0;
                },
                0);
            return kOk;
        }
        case SCHEDOP_shutdown: {
            sched_shutdown request;
            if (!domain.memory().read(args.arg().gpa, request)) return -XEN_EFAULT;
            return shutdown(domain, caller, request.reason, 0);
        }
        case SCHEDOP_shutdown_code: {
            sched_shutdown request;
            if (!domain.memory().read(args.arg().gpa, request)) return -XEN_EFAULT;
            if (request.reason > SHUTDOWN_watchdog) return -XEN_EINVAL;
            domain.set_pending_crash_reason(request.reason);
            return kOk;
        }
        case SCHEDOP_domus_exit: {
            domus_sched_exit request;
            if (!domain.memory().read(args.arg().gpa, request)) return -XEN_EFAULT;
            if (request.reason != SHUTDOWN_poweroff && request.reason != SHUTDOWN_reboot &&
                request.reason != SHUTDOWN_crash)
                return -XEN_EINVAL;
            return shutdown(domain, caller, request.reason, request.code);
        }
        case SCHEDOP_poll:
            return poll_ports(domain, caller, args.arg());
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace domus::monitor::hypercalls
