/* Domus guest ABI: memory_op(cmd, arg) (hypercall 12), after xen/include/public/memory.h. */
#ifndef DOMUS_ABI_MEMORY_H
#define DOMUS_ABI_MEMORY_H

#include "xen.h"

/* Ballooning (ABI 1.2). Domus guests are auto-translated: extent_start is the guest
 * address of xen_pfn_t[nr_extents], each a guest frame number (4 KiB, extent_order 0,
 * domid DOMID_SELF, mem_flags 0).
 *   decrease_reservation: gives each frame back to the host (its memory is freed; the
 *     frame reads as zeros if touched, and touching it costs host memory again). A frame
 *     must be populated guest RAM between the image's end and the monitor area.
 *   increase_reservation: populates each frame again, zeroed; it must be unpopulated and
 *     the reservation must stay within the maximum.
 * Both work through the array in order and stop at the first frame they refuse (or that
 * cannot be read): the result is the number of frames done (0..nr_extents), as Xen's
 * partial success; a bad header answers -XEN_EINVAL/-XEN_EFAULT/-XEN_EPERM. */
#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1
#define XENMEM_current_reservation 3 /* arg: domid_t * (DOMID_SELF); returns pages populated */
#define XENMEM_maximum_reservation 4 /* arg: domid_t * (DOMID_SELF); returns the limit (maxmem) */
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
