/* Domus guest kernel: grant tables (v1) for split-driver frontends.
 *
 * The kernel keeps its grant table in DOMUS_GUEST_GNTTAB_FRAMES pages of its own,
 * registered with the monitor at boot (GNTTABOP_domus_set_table, see
 * <domus/abi/grant_table.h>). Refs 0..GNTTAB_NR_RESERVED_ENTRIES-1 are reserved and
 * never handed out. All functions are thread-safe and upcall-safe (a spinlock held
 * with upcalls masked guards the free list; entries change by atomic operations).
 * Errors are negative <errno.h> values of the guest C library. */
#ifndef DOMUS_GNTTAB_H
#define DOMUS_GNTTAB_H

#include <domus/abi/grant_table.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOMUS_GUEST_GNTTAB_FRAMES 8 /* 4096 entries */

/* Grants `domid` access to the 4 KiB page at `page` (page-aligned guest address),
 * read-only if `readonly`. Returns the grant ref (>= GNTTAB_NR_RESERVED_ENTRIES), or
 * -EINVAL (page not aligned), -ENOSPC (no free entry), -ENODEV (no table). */
int gnttab_grant_access(domid_t domid, void* page, int readonly);

/* Revokes a grant made by gnttab_grant_access, as Xen's protocol says: -EBUSY (and the
 * grant stays valid) while the grantee uses it (GTF_reading/GTF_writing set): try again
 * later. 0 when revoked: the ref is free again and the grantee can no longer use it.
 * -EINVAL for a ref that is reserved, out of range or not granted. */
int gnttab_end_access(grant_ref_t ref);

/* gnttab_grant_access for `count` consecutive pages from `first` (page-aligned), with
 * one acquisition of the table's lock for all of them: refs[i] grants page i. 0, or
 * -EINVAL, -ENOSPC (fewer than `count` entries free), -ENODEV, with nothing granted. */
int gnttab_grant_pages(domid_t domid, void* first, unsigned count, int readonly, grant_ref_t* refs);

/* gnttab_end_access for each of `count` refs, with one acquisition of the lock for all
 * that are revoked. The refs still in use (-EBUSY) are moved to the front of `refs`, in
 * order; returns how many there are (0: all revoked). Refs that are not granted are
 * dropped, as gnttab_end_access refuses them. */
unsigned gnttab_end_access_many(grant_ref_t* refs, unsigned count);

/* A snapshot of entry `ref` (any ref, reserved ones included); -EINVAL past the end. */
int gnttab_query(grant_ref_t ref, struct grant_entry_v1* out);

/* Entries in the registered table (0: none); refs still free to grant. */
unsigned gnttab_nr_entries(void);
unsigned gnttab_nr_free(void);

/* The live entry of `ref` (null past the end or without a table). For tests that
 * play the monitor's part; frontends never need it. */
struct grant_entry_v1* gnttab_entry_for_test(grant_ref_t ref);

/* grant_table_op(GNTTABOP_copy, ops, count): copies between grants of this domain's own
 * table (see grant_table.h). Returns the hypercall's result; each op has its status. */
long gnttab_copy_batch(struct gnttab_copy* ops, unsigned count);

#ifdef __cplusplus
}
#endif

#endif
