// event_channel_op: each operation copies its structure in, lets EventChannels act on
// the copy and copies it back (with the port it produced) only when that succeeded.
#include "monitor/hypercalls/families.hpp"

namespace domus::monitor::hypercalls {
namespace {

template <class T, class Op>
std::int64_t with_arg(HypercallDomain& domain, GuestAddr arg, Op op) {
    T copy;
    if (!domain.memory().read(arg.gpa, copy)) return -XEN_EFAULT;
    int result = op(copy);
    if (result == 0 && !domain.memory().write(arg.gpa, copy)) return -XEN_EFAULT;
    return result;
}

}  // namespace

std::int64_t event_channel_op(HypercallDomain& domain, EventChannelOpArgs args) noexcept {
    auto& events = domain.events();
    const GuestAddr arg = args.arg();
    switch (args.cmd()) {
        case EVTCHNOP_alloc_unbound:
            return with_arg<evtchn_alloc_unbound>(domain, arg, [&](auto& a) {
                return events.alloc_unbound(a.dom, a.remote_dom, a.port);
            });
        case EVTCHNOP_bind_interdomain:
            return with_arg<evtchn_bind_interdomain>(domain, arg, [&](auto& a) {
                return events.bind_interdomain(a.remote_dom, a.remote_port, a.local_port);
            });
        case EVTCHNOP_bind_virq:
            return with_arg<evtchn_bind_virq>(
                domain, arg, [&](auto& a) { return events.bind_virq(a.virq, a.vcpu, a.port); });
        case EVTCHNOP_bind_ipi:
            return with_arg<evtchn_bind_ipi>(
                domain, arg, [&](auto& a) { return events.bind_ipi(a.vcpu, a.port); });
        case EVTCHNOP_bind_vcpu:
            return with_arg<evtchn_bind_vcpu>(
                domain, arg, [&](auto& a) { return events.bind_vcpu(a.port, a.vcpu); });
        case EVTCHNOP_close:
            return with_arg<evtchn_close>(domain, arg,
                                          [&](auto& a) { return events.close(a.port); });
        case EVTCHNOP_send:
            return with_arg<evtchn_send>(domain, arg, [&](auto& a) { return events.send(a.port); });
        case EVTCHNOP_unmask:
            return with_arg<evtchn_unmask>(domain, arg,
                                           [&](auto& a) { return events.unmask(a.port); });
        case EVTCHNOP_status:
            return with_arg<evtchn_status>(domain, arg, [&](auto& a) { return events.status(a); });
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace domus::monitor::hypercalls
