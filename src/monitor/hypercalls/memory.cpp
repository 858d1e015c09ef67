// memory_op and xen_version: the domain's reservation (ballooning: frames given back
// and taken again, see <domus/abi/memory.h>) and what the monitor offers.
#include "monitor/hypercalls/families.hpp"

#include <algorithm>
#include <cstring>

#include <domus/abi/memory.h>
#include <domus/abi/version.h>

namespace domus::monitor::hypercalls {

namespace {

// Frames read from the guest's array per step (a fixed stack buffer: no allocation).
constexpr std::uint64_t kFramesPerStep = 256;

std::int64_t change_reservation(HypercallDomain& domain, bool give, GuestAddr arg) noexcept {
    xen_memory_reservation request;
    if (!domain.memory().read(arg.gpa, request)) return -XEN_EFAULT;
    if (!is_self(request.domid, domain.domid())) return -XEN_EPERM;
    if (request.extent_order != 0 || request.mem_flags != 0) return -XEN_EINVAL;
    std::uint64_t count = request.nr_extents;
    if (count == 0) return 0;
    // The whole array must lie in guest memory before any frame changes.
    std::uint64_t bytes;
    if (__builtin_mul_overflow(count, sizeof(xen_pfn_t), &bytes) ||
        !domain.memory().range(request.extent_start, bytes))
        return -XEN_EFAULT;
    std::uint64_t done = 0;
    std::uint64_t frames[kFramesPerStep];
    while (done < count) {
        std::uint64_t n = std::min(kFramesPerStep, count - done);
        auto source = domain.memory().range(request.extent_start + done * sizeof(xen_pfn_t),
                                            n * sizeof(xen_pfn_t));
        if (!source) break;
        std::memcpy(frames, source->data(), n * sizeof(xen_pfn_t));  // copy, then check
        std::span<const std::uint64_t> step(frames, n);
        std::uint64_t changed =
            give ? domain.reservation().decrease(step) : domain.reservation().increase(step);
        done += changed;
        if (changed < n) break;
    }
    return std::int64_t(done);
}

}  // namespace

std::int64_t memory_op(HypercallDomain& domain, MemoryOpArgs args) noexcept {
    switch (args.cmd()) {
        case XENMEM_increase_reservation:
            return change_reservation(domain, false, args.arg());
        case XENMEM_decrease_reservation:
            return change_reservation(domain, true, args.arg());
        case XENMEM_current_reservation:
        case XENMEM_maximum_reservation: {
            domid_t dom;
            if (!domain.memory().read(args.arg().gpa, dom)) return -XEN_EFAULT;
            if (!is_self(dom, domain.domid())) return -XEN_EPERM;
            return std::int64_t(args.cmd() == XENMEM_current_reservation
                                    ? domain.reservation().current_frames()
                                    : domain.reservation().maximum_frames());
        }
        default:
            return -XEN_ENOSYS;
    }
}

std::int64_t xen_version(HypercallDomain& domain, XenVersionArgs args) noexcept {
    switch (args.cmd()) {
        case XENVER_version:
            return DOMUS_ABI_VERSION;
        case XENVER_extraversion: {
            char text[16] = "-domus";
            return domain.memory().write(args.arg().gpa, text) ? kOk : -XEN_EFAULT;
        }
        case XENVER_get_features: {
            xen_feature_info info;
            if (!domain.memory().read(args.arg().gpa, info)) return -XEN_EFAULT;
            info.submap = info.submap_idx == 0 ? (1u << XENFEAT_auto_translated_physmap) : 0;
            return domain.memory().write(args.arg().gpa, info) ? kOk : -XEN_EFAULT;
        }
        case XENVER_pagesize:
            return XEN_PAGE_SIZE;
        default:
            return -XEN_ENOSYS;
    }
}

}  // namespace domus::monitor::hypercalls
