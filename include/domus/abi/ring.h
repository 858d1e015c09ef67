/* Domus guest ABI: the generic shared ring of a split driver, after Xen's io/ring.h.
 * One page (or 2^order pages) shared by a frontend (produces requests, consumes
 * responses) and a backend (the reverse). Requests and responses share slots as a
 * union. Indices run freely modulo 2^32; a slot is `idx & (nr_ents - 1)`.
 *
 * Producer: fill slots, write barrier (orders the slot stores before the index store),
 * store prod, full barrier (orders the prod store before the event load), notify iff
 * (u32)(new - event) < (u32)(new - old).
 * Consumer before sleeping: set event = cons + 1, full barrier (orders that store
 * before re-reading prod), look again. */
#ifndef DOMUS_ABI_RING_H
#define DOMUS_ABI_RING_H

#include "xen.h"

typedef uint32_t RING_IDX;

/* The header at the start of the shared page; entries begin at offset 64. */
struct ring_sring_header {
    RING_IDX req_prod;  /* frontend */
    RING_IDX req_event; /* backend: notify me when req_prod passes this */
    RING_IDX rsp_prod;  /* backend */
    RING_IDX rsp_event; /* frontend: notify me when rsp_prod passes this */
    uint8_t pvt[4];
    uint8_t _pad[44];
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct ring_sring_header) == 64, "ring header layout");

/* Number of entries of `entry_size` bytes in `area` bytes: rounded down to a power of two. */
static inline uint32_t ring_nr_entries(uint32_t area, uint32_t entry_size) {
    uint32_t n = (area - (uint32_t)sizeof(struct ring_sring_header)) / entry_size;
    uint32_t p = 1;
    while (p * 2 <= n)
        p *= 2;
    return n ? p : 0;
}

#endif
