/* Domus guest ABI: memory_op(cmd, arg) (hypercall 12), after xen/include/public/memory.h. */
#ifndef DOMUS_ABI_MEMORY_H
#define DOMUS_ABI_MEMORY_H

#include "xen.h"

#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1
#define XENMEM_current_reservation 3 /* arg: domid_t * (DOMID_SELF); returns pages held */
#define XENMEM_maximum_reservation 4 /* arg: domid_t * (DOMID_SELF); returns the page limit */
#define XENMEM_populate_physmap 6

struct xen_memory_reservation {
    uint64_t extent_start; /* guest address of xen_pfn_t[nr_extents] */
    xen_ulong_t nr_extents;
    uint32_t extent_order; /* Domus supports order 0 */
    uint32_t mem_flags;
    domid_t domid;
    uint16_t _pad[3];
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct xen_memory_reservation) == 32, "layout");

#endif
