// memory_op and xen_version: the domain's reservation and what the monitor offers.
// Read-only questions; nothing here changes the domain.
#include "monitor/hypercalls/families.hpp"

#include <domus/abi/memory.h>
#include <domus/abi/version.h>

namespace domus::monitor::hypercalls {

std::int64_t memory_op(HypercallDomain& domain, MemoryOpArgs args) noexcept {
    switch (args.cmd()) {
        case XENMEM_current_reservation:
        case XENMEM_maximum_reservation: {
            domid_t dom;
            if (!domain.memory().read(args.arg().gpa, dom)) return -XEN_EFAULT;
            if (!is_self(dom, domain.domid())) return -XEN_EPERM;
            return std::int64_t(domain.nr_pages());
        }
        default:
            return -XEN_ENOSYS;  // reservation changes come with ballooning
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
