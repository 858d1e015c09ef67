/* grant_test: the kernel's grant table against the monitor. Grants pages to domain 0
 * and to itself, reads its entries back, revokes them (also while "in use"), and runs
 * GNTTABOP_copy between its own grants (Domus allows copies between grants the caller
 * made to itself), which goes through the monitor's grant checks end to end: the
 * copy works, and a revoked, read-only, foreign or out-of-range grant is refused.
 * Prints "grant_test: PASS" (exit 0) or "grant_test: FAIL <what>" (exit 1). */
#include <domus/gnttab.h>
#include <domus/guest.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;

static void check(int ok, const char* what)
{
    if (!ok && failures++ == 0)
        printf("grant_test: FAIL %s\n", what);
}

static long grant_op(unsigned cmd, void* arg, unsigned count)
{
    return domus_hypercall(__HYPERVISOR_grant_table_op, cmd, (unsigned long)arg, count, 0, 0);
}

static struct gnttab_copy copy_op(
    grant_ref_t src, uint16_t src_off, grant_ref_t dst, uint16_t dst_off, uint16_t len)
{
    struct gnttab_copy op;
    memset(&op, 0, sizeof op);
    op.source.u.ref = src;
    op.source.domid = DOMID_SELF;
    op.source.offset = src_off;
    op.dest.u.ref = dst;
    op.dest.domid = DOMID_SELF;
    op.dest.offset = dst_off;
    op.len = len;
    op.flags = GNTCOPY_source_gref | GNTCOPY_dest_gref;
    return op;
}

static int copy_status(struct gnttab_copy op)
{
    long rc = gnttab_copy_batch(&op, 1);
    return rc ? (int)rc : op.status;
}

static int in_use(grant_ref_t ref)
{
    struct grant_entry_v1 e;
    return gnttab_query(ref, &e) == 0 && (e.flags & (GTF_reading | GTF_writing));
}

int main(void)
{
    unsigned char* src = aligned_alloc(4096, 4096);
    unsigned char* dst = aligned_alloc(4096, 4096);
    if (!src || !dst) {
        printf("grant_test: FAIL no memory\n");
        return 1;
    }
    for (int i = 0; i < 4096; ++i)
        src[i] = (unsigned char)(i * 7 + 1);
    memset(dst, 0, 4096);

    /* The table: registered at its first use (a domain without devices never has one),
     * and the monitor agrees on its size. */
    struct gnttab_query_size qs;
    memset(&qs, 0, sizeof qs);
    qs.dom = DOMID_SELF;
    check(grant_op(GNTTABOP_query_size, &qs, 1) == 0 && qs.status == GNTST_okay, "query_size");
    check(qs.nr_frames == 0, "no table before the first use");
    check(gnttab_nr_entries() == DOMUS_GUEST_GNTTAB_FRAMES * 512, "nr_entries");
    check(grant_op(GNTTABOP_query_size, &qs, 1) == 0 && qs.status == GNTST_okay, "query_size");
    check(qs.nr_frames == DOMUS_GUEST_GNTTAB_FRAMES && qs.max_nr_frames == DOMUS_GNTTAB_MAX_FRAMES,
        "query_size frames");
    qs.dom = 3;
    check(grant_op(GNTTABOP_query_size, &qs, 1) == 0 && qs.status == GNTST_bad_domain,
        "query_size of another domain");
    struct gnttab_domus_set_table st = { 0, 0, 0, 0 };
    check(grant_op(GNTTABOP_domus_set_table, &st, 2) == -XEN_EINVAL, "set_table count 2");
    check(grant_op(GNTTABOP_setup_table, &st, 1) == -XEN_ENOSYS, "setup_table is ENOSYS");

    /* A grant to the backends' domain, read back as the monitor will see it. */
    int to_dom0 = gnttab_grant_access(0, src, 1);
    check(to_dom0 >= GNTTAB_NR_RESERVED_ENTRIES, "grant to domain 0");
    struct grant_entry_v1 e;
    check(gnttab_query((grant_ref_t)to_dom0, &e) == 0, "query");
    check(e.flags == (GTF_permit_access | GTF_readonly) && e.domid == 0
            && e.frame == (uint32_t)((uintptr_t)src >> 12),
        "entry contents");
    check(gnttab_grant_access(0, src + 1, 0) == -EINVAL, "unaligned page refused");

    /* Copies between grants to ourselves go through the monitor's checks. */
    int ro_src = gnttab_grant_access(DOMID_SELF, src, 1);
    int rw_dst = gnttab_grant_access(DOMID_SELF, dst, 0);
    check(ro_src >= 8 && rw_dst >= 8 && ro_src != rw_dst, "self grants");
    check(copy_status(copy_op(ro_src, 100, rw_dst, 200, 50)) == GNTST_okay, "copy");
    check(memcmp(dst + 200, src + 100, 50) == 0 && dst[199] == 0 && dst[250] == 0, "copied bytes");
    check(!in_use(ro_src) && !in_use(rw_dst), "flags cleared after the copy");

    struct gnttab_copy batch[2]
        = { copy_op(ro_src, 0, rw_dst, 0, 16), copy_op(rw_dst, 0, ro_src, 0, 16) };
    check(gnttab_copy_batch(batch, 2) == 0, "batch copy");
    check(batch[0].status == GNTST_okay && batch[1].status == GNTST_general_error,
        "batch statuses (read-only destination)");
    check(copy_status(copy_op(to_dom0, 0, rw_dst, 0, 8)) == GNTST_general_error,
        "grant to domain 0 is not ours to copy");
    check(copy_status(copy_op(ro_src, 4000, rw_dst, 0, 97)) == GNTST_bad_copy_arg,
        "copy across the page");
    check(copy_status(copy_op(ro_src, 0, 5000, 0, 8)) == GNTST_bad_gntref, "bad ref");
    struct gnttab_copy op = copy_op(ro_src, 0, rw_dst, 0, 8);
    op.flags = GNTCOPY_dest_gref;
    check(copy_status(op) == GNTST_permission_denied, "frame as source");
    op = copy_op(ro_src, 0, rw_dst, 0, 8);
    op.dest.domid = 3;
    check(copy_status(op) == GNTST_bad_domain, "foreign domain");

    /* Revocation: refused while in use (the bit the monitor sets while it maps). */
    check(gnttab_end_access(rw_dst) == 0, "end_access of an idle grant");
    check(gnttab_query(rw_dst, &e) == 0 && e.flags == 0, "revoked entry is invalid");
    check(copy_status(copy_op(ro_src, 0, rw_dst, 0, 8)) == GNTST_general_error,
        "revoked grant refused by the monitor");
    check(gnttab_end_access(rw_dst) == -EINVAL, "double end_access");
    check(gnttab_end_access(1) == -EINVAL, "reserved ref");
    check(gnttab_end_access(1u << 20) == -EINVAL, "ref out of range");

    /* A backend's use, simulated: set the in-use bits the way the monitor does. */
    int busy = gnttab_grant_access(DOMID_SELF, dst, 0);
    struct grant_entry_v1* live = busy >= 0 ? gnttab_entry_for_test((grant_ref_t)busy) : 0;
    check(live != 0, "live entry");
    if (live) {
        __atomic_fetch_or(&live->flags, GTF_reading, __ATOMIC_SEQ_CST);
        check(gnttab_end_access(busy) == -EBUSY, "end_access while reading");
        __atomic_fetch_or(&live->flags, GTF_writing, __ATOMIC_SEQ_CST);
        __atomic_fetch_and(&live->flags, (uint16_t)~GTF_reading, __ATOMIC_SEQ_CST);
        check(gnttab_end_access(busy) == -EBUSY, "end_access while writing");
        check(gnttab_query(busy, &e) == 0 && e.flags == (GTF_permit_access | GTF_writing),
            "busy grant still valid");
        __atomic_fetch_and(&live->flags, (uint16_t)~GTF_writing, __ATOMIC_SEQ_CST);
        check(gnttab_end_access(busy) == 0, "end_access after release");
    }

    /* Exhaustion and recovery of the free list. */
    unsigned free_before = gnttab_nr_free();
    static int refs[DOMUS_GUEST_GNTTAB_FRAMES * 512];
    static grant_ref_t refs_batch[DOMUS_GUEST_GNTTAB_FRAMES * 512];
    unsigned n = 0;
    for (int r; (r = gnttab_grant_access(0, src, 1)) >= 0;)
        refs[n++] = r;
    check(n == free_before, "every free ref can be granted");
    check(gnttab_grant_access(0, src, 1) == -ENOSPC, "full table");
    for (unsigned i = 0; i < n; ++i)
        check(gnttab_end_access(refs[i]) == 0, "end_access all");
    check(gnttab_nr_free() == free_before, "free list restored");

    /* Batches: four consecutive pages granted with one call, then ended with one while
     * the "monitor" still reads the third: only that one stays. */
    unsigned char* four = aligned_alloc(4096, 4 * 4096);
    check(four != 0, "memory for four pages");
    if (four) {
        grant_ref_t batch[4];
        check(gnttab_grant_pages(0, four + 1, 4, 1, batch) == -EINVAL, "grant_pages unaligned");
        check(gnttab_grant_pages(0, four, 4, 1, batch) == 0, "grant_pages");
        for (unsigned i = 0; i < 4; ++i)
            check(gnttab_query(batch[i], &e) == 0 && e.flags == (GTF_permit_access | GTF_readonly)
                    && e.domid == 0 && e.frame == (uint32_t)(((uintptr_t)four >> 12) + i),
                "grant_pages entries");
        check(gnttab_nr_free() == free_before - 4, "grant_pages took four refs");
        struct grant_entry_v1* third = gnttab_entry_for_test(batch[2]);
        __atomic_fetch_or(&third->flags, GTF_reading, __ATOMIC_SEQ_CST);
        grant_ref_t saved = batch[2];
        check(gnttab_end_access_many(batch, 4) == 1 && batch[0] == saved, "end_access_many busy");
        check(gnttab_nr_free() == free_before - 1, "end_access_many freed three");
        __atomic_fetch_and(&third->flags, (uint16_t)~GTF_reading, __ATOMIC_SEQ_CST);
        check(gnttab_end_access_many(batch, 1) == 0, "end_access_many after release");
        check(gnttab_nr_free() == free_before, "end_access_many freed all");
        check(gnttab_grant_pages(0, four, free_before + 1, 0, refs_batch) == -ENOSPC
                && gnttab_nr_free() == free_before,
            "grant_pages beyond the free refs takes none");
        free(four);
    }

    check(gnttab_end_access(ro_src) == 0 && gnttab_end_access(to_dom0) == 0, "cleanup");
    if (failures)
        return 1;
    printf("grant_test: PASS\n");
    return 0;
}
