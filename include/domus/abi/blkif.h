/* Domus guest ABI: the PV block protocol (blkif), after Xen's io/blkif.h. Layouts are
 * the x86_64 ones. All sector numbers are 512-byte units, whatever sector-size says.
 *
 * XenStore keys (see docs/abi.md for the whole list):
 *  backend  /local/domain/0/backend/vbd/<fdom>/<devid>/: frontend, frontend-id, online,
 *           state, mode (r|w), dev, type, params, sectors, sector-size, info,
 *           feature-flush-cache, feature-barrier, feature-discard,
 *           feature-max-indirect-segments (only features actually served)
 *  frontend /local/domain/<fdom>/device/vbd/<devid>/: backend, backend-id,
 *           virtual-device, state, ring-ref, event-channel, protocol (x86_64-abi) */
#ifndef DOMUS_ABI_BLKIF_H
#define DOMUS_ABI_BLKIF_H

#include "ring.h"

#define BLKIF_OP_READ 0
#define BLKIF_OP_WRITE 1
#define BLKIF_OP_WRITE_BARRIER 2
#define BLKIF_OP_FLUSH_DISKCACHE 3
#define BLKIF_OP_DISCARD 5
#define BLKIF_OP_INDIRECT 6

#define BLKIF_MAX_SEGMENTS_PER_REQUEST 11
#define BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST 8
#define BLKIF_SEGMENTS_PER_INDIRECT_FRAME 512 /* 4096 / sizeof(struct blkif_request_segment) */

#define BLKIF_RSP_EOPNOTSUPP (-2)
#define BLKIF_RSP_ERROR (-1)
#define BLKIF_RSP_OKAY 0

#define BLKIF_DISCARD_SECURE (1 << 0)

#define VDISK_CDROM 0x1
#define VDISK_REMOVABLE 0x2
#define VDISK_READONLY 0x4

typedef uint32_t grant_ref_t;
typedef uint64_t blkif_sector_t;

struct blkif_request_segment {
    grant_ref_t gref;   /* a 4 KiB data page */
    uint8_t first_sect; /* 0..7, inclusive */
    uint8_t last_sect;  /* first_sect..7, inclusive */
    uint8_t _pad[2];
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct blkif_request_segment) == 8, "layout");

struct blkif_request {
    uint8_t operation;   /* BLKIF_OP_READ/WRITE/FLUSH_DISKCACHE/WRITE_BARRIER */
    uint8_t nr_segments; /* 1..11 for read/write, 0 for a flush */
    uint16_t handle;
    uint32_t _pad;
    uint64_t id; /* the frontend's cookie, echoed in the response */
    blkif_sector_t sector_number;
    struct blkif_request_segment seg[BLKIF_MAX_SEGMENTS_PER_REQUEST];
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct blkif_request) == 112, "layout");

struct blkif_request_discard {
    uint8_t operation; /* BLKIF_OP_DISCARD */
    uint8_t flag;      /* BLKIF_DISCARD_SECURE */
    uint16_t handle;
    uint32_t _pad;
    uint64_t id;
    blkif_sector_t sector_number;
    uint64_t nr_sectors;
    uint8_t _pad2[80]; /* fills the ring slot */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct blkif_request_discard) == 112, "layout");

struct blkif_request_indirect {
    uint8_t operation;   /* BLKIF_OP_INDIRECT */
    uint8_t indirect_op; /* BLKIF_OP_READ or BLKIF_OP_WRITE */
    uint16_t nr_segments;
    uint32_t _pad;
    uint64_t id;
    blkif_sector_t sector_number;
    uint16_t handle;
    uint16_t _pad2;
    grant_ref_t indirect_grefs[BLKIF_MAX_INDIRECT_PAGES_PER_REQUEST];
    uint8_t _pad3[52]; /* fills the ring slot */
};
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct blkif_request_indirect, indirect_grefs) == 28,
                        "layout");
DOMUS_ABI_STATIC_ASSERT(sizeof(struct blkif_request_indirect) == 112, "layout");

struct blkif_response {
    uint64_t id;
    uint8_t operation;
    uint8_t _pad;
    int16_t status; /* BLKIF_RSP_* */
    uint32_t _pad2;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct blkif_response) == 16, "layout");

/* A ring slot: requests and responses share it. */
union blkif_sring_entry {
    struct blkif_request req;
    struct blkif_response rsp;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(union blkif_sring_entry) == 112, "layout");

#define BLKIF_RING_SIZE_1PAGE 32 /* ring_nr_entries(4096, 112) */

/* XenBus states (stored as decimal strings in <dir>/state). */
enum xenbus_state {
    XenbusStateUnknown = 0,
    XenbusStateInitialising = 1,
    XenbusStateInitWait = 2,
    XenbusStateInitialised = 3,
    XenbusStateConnected = 4,
    XenbusStateClosing = 5,
    XenbusStateClosed = 6,
    XenbusStateReconfiguring = 7,
    XenbusStateReconfigured = 8
};

#endif
