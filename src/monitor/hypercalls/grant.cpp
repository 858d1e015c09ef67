// grant_table_op: an array of `count` operations. As Xen's guest_handle_okay, the whole
// array must lie in guest memory before any element is acted on (checked arithmetic);
// then each element is copied in, acted on, and copied back with its status.
#include "base/checked.hpp"
#include "monitor/hypercalls/families.hpp"

namespace domus::monitor::hypercalls {
namespace {

// True when all `count` elements lie in guest memory (the size is checked for overflow).
template <class Element>
bool array_fits(const GuestMemory& memory, GuestAddr array, std::uint64_t count) {
    auto bytes = checked_mul(count, sizeof(Element));
    return bytes && memory.range(array.gpa, *bytes).has_value();
}

template <class Element, class Op>
std::int64_t each(HypercallDomain& domain, GuestAddr array, std::uint64_t count, Op op) {
    GuestMemory& memory = domain.memory();
    if (!array_fits<Element>(memory, array, count)) return -XEN_EFAULT;
    for (std::uint64_t i = 0; i < count; ++i) {
        auto gpa = checked_add(array.gpa, i * sizeof(Element));  // i < count: no overflow
        Element element;
        if (!gpa || !memory.read(*gpa, element)) return -XEN_EFAULT;
        op(element);
        if (!memory.write(*gpa, element)) return -XEN_EFAULT;
    }
    return kOk;
}

}  // namespace

std::int64_t grant_table_op(HypercallDomain& domain, GrantTableOpArgs args) noexcept {
    GrantTable& grants = domain.grants();
    const std::uint64_t count = args.count();
    if (count > DOMUS_GNTTAB_MAX_BATCH) return -XEN_EINVAL;
    switch (args.cmd()) {
        case GNTTABOP_domus_set_table:
            if (count != 1) return -XEN_EINVAL;
            return each<gnttab_domus_set_table>(domain, args.array(), count, [&](auto& op) {
                op.status = grants.set_table(op.frame_list, op.nr_frames);
            });
        case GNTTABOP_query_size:
            return each<gnttab_query_size>(domain, args.array(), count, [&](auto& op) {
                op.status = is_self(op.dom, domain.domid()) ? GNTST_okay : GNTST_bad_domain;
                op.nr_frames = op.status == GNTST_okay ? grants.nr_frames() : 0;
                op.max_nr_frames = DOMUS_GNTTAB_MAX_FRAMES;
            });
        case GNTTABOP_copy:
            return each<gnttab_copy>(domain, args.array(), count,
                                     [&](auto& op) { op.status = grants.copy(op); });
        default:
            return -XEN_ENOSYS;  // setup_table, map/unmap: see grant_table.h
    }
}

}  // namespace domus::monitor::hypercalls
