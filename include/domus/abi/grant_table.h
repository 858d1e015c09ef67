/* Domus guest ABI: grant tables v1, grant_table_op(cmd, args, count) (hypercall 20).
 * Layouts, numbers and the entry protocol follow xen/include/public/grant_table.h.
 *
 * Where the table lives (Domus). The guest is auto-translated (guest-physical == what
 * it names), so instead of asking the monitor for table frames (GNTTABOP_setup_table)
 * it allocates up to DOMUS_GNTTAB_MAX_FRAMES page-aligned frames of its own RAM and
 * registers them with GNTTABOP_domus_set_table. Frame i of the list holds entries
 * [512 * i, 512 * i + 511]. The frames need not be contiguous.
 *
 * Granting (guest): write domid, then frame, then a write barrier, then flags
 * (GTF_permit_access, plus GTF_readonly for a read-only grant).
 * Using (monitor, for its backends): one atomic compare-exchange on the 32-bit word
 * {flags, domid} checks type == GTF_permit_access, domid == the grantee and, for
 * write access, !GTF_readonly, and sets GTF_reading (plus GTF_writing for write
 * access) in the same step; the frame is read once, after that, and checked to lie in
 * guest RAM at or above 2 MiB and below the monitor area. The bits stay set while the
 * grant is in use (a backend mapping or an in-flight copy) and are cleared with an
 * atomic AND when the last user lets go; nothing else in the entry is ever written.
 * Revoking (guest): read flags; if GTF_reading or GTF_writing is set the grant is in
 * use: try again later. Otherwise compare-exchange flags to 0; retry if it changed.
 *
 * Status codes (per element `status`) and their causes in Domus:
 *   GNTST_bad_gntref      ref >= registered entries (0 when no table is registered)
 *   GNTST_general_error   entry type not GTF_permit_access, domid not the grantee,
 *                         GTF_readonly on a write use, entry kept changing under the
 *                         compare-exchange (4 retries), bad set_table frame list
 *   GNTST_bad_page        the entry's frame is outside usable guest RAM
 *   GNTST_bad_copy_arg    copy: offset + len past the 4 KiB page
 *   GNTST_bad_domain      a domain other than the caller (DOMID_SELF or its own id)
 *   GNTST_permission_denied  copy: a side given as a frame number (Domus copies
 *                         between grant references only)
 *   GNTST_bad_virt_addr   set_table: frame_list not readable guest memory
 *   GNTST_eagain          set_table: a grant of the current table is in use
 *
 * Hypercall return value: 0 when every element was processed (each has its status),
 * -XEN_EFAULT when an element cannot be read or written back, -XEN_EINVAL for count
 * > DOMUS_GNTTAB_MAX_BATCH, -XEN_ENOSYS for setup_table, map/unmap_grant_ref (nothing
 * for a Domus guest to map: its backends live in the monitor) and unknown commands. */
#ifndef DOMUS_ABI_GRANT_TABLE_H
#define DOMUS_ABI_GRANT_TABLE_H

#include "xen.h"

typedef uint32_t grant_ref_t; /* index into the granter's table (also in blkif.h) */
typedef uint32_t grant_handle_t;

/* ---- entries -------------------------------------------------------------------- */

struct grant_entry_v1 {
    uint16_t flags; /* GTF_*: type and readonly written by the guest, reading/writing by
                       the monitor */
    domid_t domid;  /* the domain allowed to use the grant (backends: 0) */
    uint32_t frame; /* guest frame number of the granted 4 KiB page */
};
typedef struct grant_entry_v1 grant_entry_v1_t;
DOMUS_ABI_STATIC_ASSERT(sizeof(struct grant_entry_v1) == 8, "grant_entry_v1 layout");

#define GTF_invalid (0U << 0)
#define GTF_permit_access (1U << 0)
#define GTF_accept_transfer (2U << 0) /* obsolete PV page transfer: never accepted */
#define GTF_transitive (3U << 0)      /* v2 only: never accepted */
#define GTF_type_mask (3U << 0)
#define _GTF_readonly 2
#define GTF_readonly (1U << _GTF_readonly) /* guest: no write access */
#define _GTF_reading 3
#define GTF_reading (1U << _GTF_reading) /* monitor: in use for reading */
#define _GTF_writing 4
#define GTF_writing (1U << _GTF_writing) /* monitor: in use for writing */
#define GTF_PWT (1U << 5)                /* cache attributes: ignored by Domus */
#define GTF_PCD (1U << 6)
#define GTF_PAT (1U << 7)
#define GTF_sub_page (1U << 8) /* v2 only */
#define GTF_transfer_committed (1U << 2)
#define GTF_transfer_completed (1U << 3)

/* Refs 0..7 are reserved (Xen's domain builder fills 0 and 1); guests grant from 8 up. */
#define GNTTAB_NR_RESERVED_ENTRIES 8
#define GNTTAB_RESERVED_CONSOLE 0
#define GNTTAB_RESERVED_XENSTORE 1

#define DOMUS_GNTTAB_ENTRIES_PER_FRAME (XEN_PAGE_SIZE / sizeof(struct grant_entry_v1)) /* 512 */
#define DOMUS_GNTTAB_MAX_FRAMES 64 /* 32768 entries; Xen's default gnttab_max_frames */
#define DOMUS_GNTTAB_MAX_BATCH 512 /* elements per grant_table_op call */

/* ---- operations ----------------------------------------------------------------- */

#define GNTTABOP_map_grant_ref 0   /* -XEN_ENOSYS in Domus */
#define GNTTABOP_unmap_grant_ref 1 /* -XEN_ENOSYS in Domus */
#define GNTTABOP_setup_table 2     /* -XEN_ENOSYS in Domus: use GNTTABOP_domus_set_table */
#define GNTTABOP_dump_table 3
#define GNTTABOP_transfer 4
#define GNTTABOP_copy 5       /* [D] grant refs of the caller's own table, see below */
#define GNTTABOP_query_size 6 /* [D] */
#define GNTTABOP_unmap_and_replace 7
#define GNTTABOP_set_version 8
#define GNTTABOP_get_status_frames 9
#define GNTTABOP_get_version 10
#define GNTTABOP_swap_grant_ref 11
#define GNTTABOP_cache_flush 12
#define GNTTABOP_domus_set_table 64 /* [D] Domus: register the guest's own table frames */

/* GNTMAP_* flags of map_grant_ref. */
#define GNTMAP_device_map (1U << 0)
#define GNTMAP_host_map (1U << 1)
#define GNTMAP_readonly (1U << 2)
#define GNTMAP_application_map (1U << 3)
#define GNTMAP_contains_pte (1U << 4)

/* GNTST_* status codes. */
#define GNTST_okay (0)
#define GNTST_general_error (-1)
#define GNTST_bad_domain (-2)
#define GNTST_bad_gntref (-3)
#define GNTST_bad_handle (-4)
#define GNTST_bad_virt_addr (-5)
#define GNTST_bad_dev_addr (-6)
#define GNTST_no_device_space (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page (-9)
#define GNTST_bad_copy_arg (-10)
#define GNTST_address_too_big (-11)
#define GNTST_eagain (-12)
#define GNTST_no_space (-13)

struct gnttab_map_grant_ref {
    uint64_t host_addr;    /* in */
    uint32_t flags;        /* in: GNTMAP_* */
    grant_ref_t ref;       /* in */
    domid_t dom;           /* in: the granting domain */
    int16_t status;        /* out: GNTST_* */
    grant_handle_t handle; /* out */
    uint64_t dev_bus_addr; /* out */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_map_grant_ref) == 32, "map_grant_ref layout");

struct gnttab_unmap_grant_ref {
    uint64_t host_addr;    /* in */
    uint64_t dev_bus_addr; /* in */
    grant_handle_t handle; /* in */
    int16_t status;        /* out */
    uint16_t _pad;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_unmap_grant_ref) == 24, "unmap_grant_ref layout");

struct gnttab_setup_table {
    domid_t dom; /* in */
    uint16_t _pad0;
    uint32_t nr_frames; /* in */
    int16_t status;     /* out */
    uint16_t _pad1[3];
    uint64_t frame_list; /* in: guest address of xen_pfn_t[nr_frames] (out) */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_setup_table) == 24, "setup_table layout");

/* GNTTABOP_copy: copies `len` bytes between two pages, each named by a grant ref of
 * the caller's own table (Domus: both GNTCOPY_*_gref flags must be set, `domid` of
 * both sides is DOMID_SELF or the caller's id). The source entry must permit access
 * to the caller (its domid is the caller's id, or DOMID_SELF), the destination entry
 * too and without GTF_readonly. offset + len must stay inside the 4 KiB page. While
 * the copy runs, the entries carry GTF_reading (source) and GTF_reading|GTF_writing
 * (destination), exactly like a backend's use, so this exercises the monitor's grant
 * checks end to end. */
#define _GNTCOPY_source_gref 0
#define GNTCOPY_source_gref (1U << _GNTCOPY_source_gref)
#define _GNTCOPY_dest_gref 1
#define GNTCOPY_dest_gref (1U << _GNTCOPY_dest_gref)

struct gnttab_copy_ptr {
    union {
        grant_ref_t ref;
        xen_pfn_t gmfn;
    } u;
    domid_t domid;
    uint16_t offset;
    uint32_t _pad;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_copy_ptr) == 16, "gnttab_copy_ptr layout");

struct gnttab_copy {
    struct gnttab_copy_ptr source; /* in */
    struct gnttab_copy_ptr dest;   /* in */
    uint16_t len;                  /* in */
    uint16_t flags;                /* in: GNTCOPY_* */
    int16_t status;                /* out */
    uint16_t _pad;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_copy) == 40, "gnttab_copy layout");

struct gnttab_query_size {
    domid_t dom; /* in: DOMID_SELF or own id */
    uint16_t _pad0;
    uint32_t nr_frames;     /* out: frames registered now */
    uint32_t max_nr_frames; /* out: DOMUS_GNTTAB_MAX_FRAMES */
    int16_t status;         /* out */
    uint16_t _pad1;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_query_size) == 16, "query_size layout");

/* GNTTABOP_domus_set_table (Domus, count must be 1): registers the caller's table.
 * frame_list: guest address of xen_pfn_t[nr_frames], read once. nr_frames: 0 (no
 * table) to DOMUS_GNTTAB_MAX_FRAMES. Each frame must lie in guest RAM at or above
 * 2 MiB, below the monitor area, and appear once. Allowed again (to grow or move the
 * table) only while no grant of the current table is in use; the monitor keeps no copy
 * of the entries, so the guest copies live entries over itself before re-registering.
 * status: GNTST_okay, GNTST_bad_virt_addr (frame_list), GNTST_general_error
 * (nr_frames or a frame), GNTST_eagain (in use). */
struct gnttab_domus_set_table {
    uint64_t frame_list; /* in */
    uint32_t nr_frames;  /* in */
    int16_t status;      /* out */
    uint16_t _pad;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct gnttab_domus_set_table) == 16, "domus_set_table layout");

#endif
