// Grant table (v1): DOMUS_GUEST_GNTTAB_FRAMES kernel pages registered with the monitor
// at the first grant, a free list of refs under one spinlock, and Xen's grant and revoke
// protocol.
#include "gnttab.hpp"

#include "hypercall.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "spinlock.hpp"

#include <domus/gnttab.h>
#include <errno.h>
#include <string.h>

namespace domus::guest {

namespace {

    constexpr grant_ref_t kEntries = DOMUS_GUEST_GNTTAB_FRAMES * DOMUS_GNTTAB_ENTRIES_PER_FRAME;
    constexpr grant_ref_t kEnd = ~grant_ref_t(0); // end of the free list
    constexpr grant_ref_t kGranted = kEnd - 1; // next_[ref] of a ref in use

    grant_entry_v1* table; // null until registered
    grant_ref_t next_[kEntries]; // free list links, or kGranted
    grant_ref_t free_head = kEnd;
    unsigned nr_free;
    Spinlock lock;

    long grant_table_op(unsigned cmd, void* arg, unsigned count)
    {
        return hypercall_raw(__HYPERVISOR_grant_table_op, cmd, ptr_arg(arg), count);
    }

    uint16_t* flags_of(grant_ref_t ref) { return &table[ref].flags; }

} // namespace

namespace {

    // Tells the monitor where the table's frames are. The hypercall's result (0 or a
    // negative Xen errno) and, when it ran, the operation's status.
    long register_table(grant_entry_v1* pages, int16_t* status)
    {
        xen_pfn_t frames[DOMUS_GUEST_GNTTAB_FRAMES];
        for (unsigned i = 0; i < DOMUS_GUEST_GNTTAB_FRAMES; ++i)
            frames[i] = (reinterpret_cast<uint64_t>(pages) >> XEN_PAGE_SHIFT) + i;
        gnttab_domus_set_table op {};
        op.frame_list = ptr_arg(frames);
        op.nr_frames = DOMUS_GUEST_GNTTAB_FRAMES;
        long rc = grant_table_op(GNTTABOP_domus_set_table, &op, 1);
        *status = op.status;
        return rc;
    }

} // namespace

namespace {

    Spinlock registration_lock; // held while the table is made and registered
    bool registration_failed; // under registration_lock: not tried again

    // The table, made and registered with the monitor at its first use, so that a domain
    // without devices never pays for it (a hypercall and the table's first-touched pages
    // at boot). Null if there is none: no memory, or the monitor refused it.
    grant_entry_v1* registered_table()
    {
        if (grant_entry_v1* ready = __atomic_load_n(&table, __ATOMIC_ACQUIRE))
            return ready;
        IrqSpinGuard once(registration_lock);
        if (table || registration_failed)
            return table;
        registration_failed = true; // until it succeeds below
        void* pages = page_alloc(DOMUS_GUEST_GNTTAB_FRAMES);
        if (!pages) {
            printk("gnttab: no memory for the table\n");
            return nullptr;
        }
        memset(pages, 0, DOMUS_GUEST_GNTTAB_FRAMES * kPageSize);
        int16_t status = GNTST_okay;
        long rc = register_table(static_cast<grant_entry_v1*>(pages), &status);
        if (rc != 0 || status != GNTST_okay) {
            if (rc != -XEN_ENOSYS) // a monitor without grant tables: no grants, quietly
                printk("gnttab: registration refused (%ld, status %d)\n", rc, status);
            page_free(pages, DOMUS_GUEST_GNTTAB_FRAMES);
            return nullptr;
        }
        {
            IrqSpinGuard guard(lock);
            for (grant_ref_t ref = kEntries; ref-- > GNTTAB_NR_RESERVED_ENTRIES;) {
                next_[ref] = free_head;
                free_head = ref;
                ++nr_free;
            }
            for (grant_ref_t ref = 0; ref < GNTTAB_NR_RESERVED_ENTRIES; ++ref)
                next_[ref] = kGranted; // reserved: never on the free list
        }
        registration_failed = false;
        __atomic_store_n(&table, static_cast<grant_entry_v1*>(pages), __ATOMIC_RELEASE);
        return table;
    }

} // namespace

bool gnttab_resume()
{
    // The entries live in our own pages and came along; the new monitor only has to be
    // told where they are again (Xen re-maps its table frames the same way).
    grant_entry_v1* pages = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (!pages)
        return true;
    int16_t status = GNTST_okay;
    long rc = register_table(pages, &status);
    if (rc != 0 || status != GNTST_okay) {
        printk("gnttab: re-registration refused (%ld, status %d)\n", rc, status);
        return false;
    }
    return true;
}

} // namespace domus::guest

using namespace domus::guest;

extern "C" {

int gnttab_grant_access(domid_t domid, void* page, int readonly)
{
    auto addr = reinterpret_cast<uint64_t>(page);
    if (!page || addr % kPageSize)
        return -EINVAL;
    if (!registered_table())
        return -ENODEV;
    grant_ref_t ref;
    {
        IrqSpinGuard guard(lock);
        if (free_head == kEnd)
            return -ENOSPC;
        ref = free_head;
        free_head = next_[ref];
        next_[ref] = kGranted;
        --nr_free;
    }
    // Xen's order: domid and frame first, then (after a write barrier) the flags that
    // make the entry valid, so the monitor never sees valid flags with an old frame.
    grant_entry_v1* e = &table[ref];
    __atomic_store_n(&e->domid, domid, __ATOMIC_RELAXED);
    __atomic_store_n(&e->frame, uint32_t(addr >> XEN_PAGE_SHIFT), __ATOMIC_RELAXED);
    __atomic_store_n(
        &e->flags, uint16_t(GTF_permit_access | (readonly ? GTF_readonly : 0)), __ATOMIC_RELEASE);
    return int(ref);
}

int gnttab_end_access(grant_ref_t ref)
{
    if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE) || ref < GNTTAB_NR_RESERVED_ENTRIES
        || ref >= kEntries)
        return -EINVAL;
    {
        IrqSpinGuard guard(lock);
        if (next_[ref] != kGranted)
            return -EINVAL;
    }
    // Revoke only while the monitor does not use the grant: compare-exchange the flags
    // to 0 from a value without GTF_reading/GTF_writing. The monitor sets those bits by
    // compare-exchange too, so exactly one of us wins.
    uint16_t flags = __atomic_load_n(flags_of(ref), __ATOMIC_ACQUIRE);
    do {
        if (flags & (GTF_reading | GTF_writing))
            return -EBUSY;
    } while (!__atomic_compare_exchange_n(
        flags_of(ref), &flags, uint16_t(0), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
    IrqSpinGuard guard(lock);
    if (next_[ref] != kGranted)
        return -EINVAL; // a racing end_access of the same ref won
    next_[ref] = free_head;
    free_head = ref;
    ++nr_free;
    return 0;
}

int gnttab_grant_pages(domid_t domid, void* first, unsigned count, int readonly, grant_ref_t* refs)
{
    auto addr = reinterpret_cast<uint64_t>(first);
    if (!first || addr % kPageSize || (count && !refs))
        return -EINVAL;
    if (!registered_table())
        return -ENODEV;
    {
        IrqSpinGuard guard(lock);
        if (nr_free < count)
            return -ENOSPC;
        for (unsigned i = 0; i < count; ++i) {
            refs[i] = free_head;
            free_head = next_[refs[i]];
            next_[refs[i]] = kGranted;
        }
        nr_free -= count;
    }
    // Each entry in Xen's order, as gnttab_grant_access does.
    auto flags = uint16_t(GTF_permit_access | (readonly ? GTF_readonly : 0));
    for (unsigned i = 0; i < count; ++i) {
        grant_entry_v1* e = &table[refs[i]];
        __atomic_store_n(&e->domid, domid, __ATOMIC_RELAXED);
        __atomic_store_n(&e->frame, uint32_t((addr >> XEN_PAGE_SHIFT) + i), __ATOMIC_RELAXED);
        __atomic_store_n(&e->flags, flags, __ATOMIC_RELEASE);
    }
    return 0;
}

unsigned gnttab_end_access_many(grant_ref_t* refs, unsigned count)
{
    if (!__atomic_load_n(&table, __ATOMIC_ACQUIRE) || !refs)
        return 0;
    // First end every grant the monitor does not use (the same compare-exchange as
    // gnttab_end_access), keeping the busy ones at the front; then free the ended ones
    // under one lock. refs[kept..done) are the ended ones.
    unsigned kept = 0;
    unsigned ended = 0;
    grant_ref_t done[64];
    unsigned i = 0;
    while (i < count) {
        for (ended = 0; i < count && ended < 64; ++i) {
            grant_ref_t ref = refs[i];
            if (ref < GNTTAB_NR_RESERVED_ENTRIES || ref >= kEntries)
                continue;
            uint16_t flags = __atomic_load_n(flags_of(ref), __ATOMIC_ACQUIRE);
            bool busy = false;
            do {
                if (flags & (GTF_reading | GTF_writing)) {
                    busy = true;
                    break;
                }
            } while (!__atomic_compare_exchange_n(
                flags_of(ref), &flags, uint16_t(0), false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE));
            if (busy)
                refs[kept++] = ref;
            else
                done[ended++] = ref;
        }
        IrqSpinGuard guard(lock);
        for (unsigned j = 0; j < ended; ++j) {
            grant_ref_t ref = done[j];
            if (next_[ref] != kGranted)
                continue; // not granted (or a racing end won): nothing to free
            next_[ref] = free_head;
            free_head = ref;
            ++nr_free;
        }
    }
    return kept;
}

int gnttab_query(grant_ref_t ref, struct grant_entry_v1* out)
{
    if (!out || !registered_table() || ref >= kEntries)
        return -EINVAL;
    out->flags = __atomic_load_n(&table[ref].flags, __ATOMIC_ACQUIRE);
    out->domid = __atomic_load_n(&table[ref].domid, __ATOMIC_RELAXED);
    out->frame = __atomic_load_n(&table[ref].frame, __ATOMIC_RELAXED);
    return 0;
}

unsigned gnttab_nr_entries(void) { return registered_table() ? kEntries : 0; }

unsigned gnttab_nr_free(void)
{
    registered_table();
    IrqSpinGuard guard(lock);
    return nr_free;
}

struct grant_entry_v1* gnttab_entry_for_test(grant_ref_t ref)
{
    grant_entry_v1* t = registered_table();
    return t && ref < kEntries ? &t[ref] : nullptr;
}

long gnttab_copy_batch(struct gnttab_copy* ops, unsigned count)
{
    return grant_table_op(GNTTABOP_copy, ops, count);
}

} // extern "C"
