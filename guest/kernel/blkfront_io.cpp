// The blkif ring of one device (see blkfront.hpp): zero-copy grants of callers' pages
// or bounce slots granted once, requests built into ring slots, responses copied once
// and checked before use, notification suppression on both sides (PV ABI reference 3.5
// and 3.6) with a short poll before sleeping, and the failure path that ends every
// waiter with -EIO when the backend misbehaves.
#include "blkfront.hpp"

#include "arch.hpp"
#include "events.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"
#include "time.hpp"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

namespace domus::guest::blkfront {

namespace {

    constexpr uint32_t kSectorsPerPage = kPageSize / 512;
    constexpr unsigned kIdIndexBits = 8;
    constexpr size_t kSpareGrants = 512; // left for other devices after an indirect pool  //
                                         // request id = seq << 8 | slot index
    static_assert(kRingSlots <= (1u << kIdIndexBits));
    static_assert(kMaxIndirectSegs <= BLKIF_SEGMENTS_PER_INDIRECT_FRAME); // one indirect page
    // Zero-copy grants leave this many table entries to others (other devices' setup).
    constexpr unsigned kDirectReserve = 256;
    // A waiter polls the ring this long before it arms rsp_event and sleeps: blocking
    // and being woken costs a hypercall exit plus an upcall (~60 us or more here), while
    // a backend with requests in hand answers within microseconds.
    constexpr uint64_t kPollNs = 50'000;
    // Revoking a grant the backend answered for: it released the page before answering,
    // so the first try succeeds; a few retries cover nothing but a misbehaving backend.
    constexpr int kRevokeTries = 1000;

    uint64_t cycles() { return rdtsc_ordered(); }

    void lock(Device* dev)
    {
        mutex_lock(&dev->lock);
        ++dev->stats.lock_acquisitions;
    }

    // A store->load fence (mfence): the ring's notification and final-check rules need it.
    void full_barrier() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

    // Sectors (or, for flush and discard, the one request) an op puts on the ring.
    uint64_t op_units(const blk_op* op)
    {
        return op->type == BLK_OP_READ || op->type == BLK_OP_WRITE ? op->count : 1;
    }

    void mark_done(blk_op* op)
    {
        __atomic_store_n(&op->_done, 1u, __ATOMIC_RELEASE); // status and data before the flag
    }

    // One ring request of op has ended. Lock held.
    void finish_request(blk_op* op, int status)
    {
        if (status && !op->status)
            op->status = status;
        if (--op->_pending == 0 && op->_next >= op_units(op))
            mark_done(op);
    }

    void free_slot(Device* dev, Slot* s)
    {
        s->op = nullptr;
        s->next_free = dev->free_list;
        dev->free_list = s;
        ++dev->nr_free;
    }

    // Revokes the zero-copy grants of s (tried up to `tries` times), taking the grant
    // table's lock once a try. False if the backend still holds one: those stay granted
    // and recorded in s.
    bool revoke_direct(Device* dev, Slot* s, int tries)
    {
        for (int t = 0; t < tries && s->nr_direct > 0; ++t) {
            dev->stats.grant_ops += s->nr_direct;
            s->nr_direct = gnttab_end_access_many(s->direct_grefs, s->nr_direct);
            if (s->nr_direct > 0)
                cpu_relax();
        }
        return s->nr_direct == 0;
    }

    // Grants the caller's own pages under one request of nr_sectors at data (sector-
    // aligned), all with one acquisition of the grant table's lock, and describes them
    // in segs. False, with nothing granted, when the grant table is short: the request
    // then goes through the slot's bounce pages.
    bool grant_direct(Device* dev, Slot* s, uint8_t* data, uint32_t nr_sectors, bool readonly,
        blkif_request_segment* segs, unsigned* nr_segs)
    {
        auto addr = reinterpret_cast<uintptr_t>(data);
        uint32_t first = uint32_t(addr % kPageSize) / 512;
        unsigned pages = (first + nr_sectors + kSectorsPerPage - 1) / kSectorsPerPage;
        if (pages > dev->slot_segs || gnttab_nr_free() < kDirectReserve + pages)
            return false;
        auto* page = reinterpret_cast<uint8_t*>(addr - addr % kPageSize);
        if (gnttab_grant_pages(dev->backend_id, page, pages, readonly, s->direct_grefs) < 0)
            return false;
        dev->stats.grant_ops += pages;
        s->nr_direct = pages;
        uint32_t left = nr_sectors;
        for (unsigned i = 0; i < pages; ++i) {
            uint32_t in_page = kSectorsPerPage - first < left ? kSectorsPerPage - first : left;
            segs[i] = blkif_request_segment {};
            segs[i].gref = s->direct_grefs[i];
            segs[i].first_sect = uint8_t(first);
            segs[i].last_sect = uint8_t(first + in_page - 1);
            left -= in_page;
            first = 0;
        }
        *nr_segs = pages;
        return true;
    }

    void fail_locked(Device* dev, const char* why, unsigned long value)
    {
        if (dev->failed)
            return;
        __atomic_store_n(&dev->failed, true, __ATOMIC_RELEASE);
        evtchn_mask(dev->port); // a hostile backend gets no more of our time
        printk(
            "blkfront: %s: %s (%lu): device failed, I/O ends with -EIO\n", dev->name, why, value);
        // The backend may still be using the pages of in-flight slots: those slots are never
        // reused (nor their bounce pages freed); only their ops end, except an op whose own
        // pages the backend still holds (see end_stuck_locked).
        for (Slot& s : dev->slots) {
            if (!s.op)
                continue;
            if (!revoke_direct(dev, &s, 1)) {
                s.stuck = true;
                continue;
            }
            blk_op* op = s.op;
            s.op = nullptr;
            finish_request(op, -EIO);
        }
        waitq_wake_all(&dev->waiters);
    }

    // Failed device: ends the ops whose pages the backend has let go of since. Lock held.
    void end_stuck_locked(Device* dev)
    {
        for (Slot& s : dev->slots) {
            if (!s.op || !s.stuck || !revoke_direct(dev, &s, 1))
                continue;
            s.stuck = false;
            blk_op* op = s.op;
            s.op = nullptr;
            finish_request(op, -EIO);
        }
    }

    // Copies a response out of the shared slot with exactly one read of each word, so that
    // what we check is what we use (the backend may rewrite the slot at any time).
    blkif_response read_response(const blkif_sring_entry* entry)
    {
        const volatile uint64_t* src = reinterpret_cast<const volatile uint64_t*>(&entry->rsp);
        uint64_t words[2] = { src[0], src[1] };
        blkif_response rsp;
        memcpy(&rsp, words, sizeof rsp);
        return rsp;
    }

    // Checks one response and ends its request. False if the backend broke the protocol.
    bool complete_locked(Device* dev, const blkif_response& rsp)
    {
        unsigned index = unsigned(rsp.id & ((1u << kIdIndexBits) - 1));
        Slot* s = index < kRingSlots ? &dev->slots[index] : nullptr;
        if (!s || !s->op || s->seq != rsp.id >> kIdIndexBits) {
            fail_locked(dev, "response with an unknown id", (unsigned long)rsp.id);
            return false;
        }
        if (rsp.operation != s->ring_op) {
            fail_locked(dev, "response for another operation", rsp.operation);
            return false;
        }
        int status;
        switch (rsp.status) {
        case BLKIF_RSP_OKAY:
            status = 0;
            break;
        case BLKIF_RSP_ERROR:
            status = -EIO;
            break;
        case BLKIF_RSP_EOPNOTSUPP:
            status = -EOPNOTSUPP;
            break;
        default:
            fail_locked(dev, "bad response status", (unsigned long)(uint16_t)rsp.status);
            return false;
        }
        // The backend released our pages before it answered: revoking succeeds now, and
        // must, before the caller may see its buffer again.
        if (s->nr_direct && !revoke_direct(dev, s, kRevokeTries)) {
            fail_locked(
                dev, "response for a request whose pages are still in use", (unsigned long)rsp.id);
            return false;
        }
        blk_op* op = s->op;
        if (status == 0 && s->data_op == BLKIF_OP_READ && !s->direct)
            memcpy(static_cast<uint8_t*>(op->buf) + s->buf_offset, s->pages,
                size_t(s->nr_sectors) * 512);
        free_slot(dev, s);
        finish_request(op, status);
        return true;
    }

    // Consumes every published response, without asking for a notification (a thread
    // that is going to sleep does that: arm_locked). Wakes the waiters if anything ended.
    // Lock held.
    void collect_locked(Device* dev)
    {
        if (dev->failed)
            return;
        // Acquire: the index is read before the slots it covers (the read barrier).
        RING_IDX prod = __atomic_load_n(&dev->sring->rsp_prod, __ATOMIC_ACQUIRE);
        if (RING_IDX(prod - dev->rsp_cons) > RING_IDX(dev->req_prod_pvt - dev->rsp_cons)) {
            fail_locked(dev, "more responses than requests", RING_IDX(prod - dev->rsp_cons));
            return;
        }
        if (dev->rsp_cons == prod)
            return;
        uint64_t started = cycles();
        while (dev->rsp_cons != prod) {
            blkif_response rsp = read_response(&dev->ring[dev->rsp_cons & (kRingSlots - 1)]);
            __atomic_store_n(&dev->rsp_cons, dev->rsp_cons + 1, __ATOMIC_RELAXED);
            ++dev->stats.requests;
            if (!complete_locked(dev, rsp))
                return; // failed: fail_locked woke everyone
        }
        dev->stats.complete_cycles += cycles() - started;
        waitq_wake_all(&dev->waiters);
    }

    // The final check of PV ABI 3.6 before sleeping: asks the backend to notify us for
    // the next response, then looks again. True if responses arrived meanwhile (collect
    // them instead of sleeping). Lock held.
    bool arm_locked(Device* dev)
    {
        __atomic_store_n(&dev->sring->rsp_event, dev->rsp_cons + 1, __ATOMIC_RELAXED);
        full_barrier(); // the rsp_event store before the second look at rsp_prod
        return __atomic_load_n(&dev->sring->rsp_prod, __ATOMIC_ACQUIRE) != dev->rsp_cons;
    }

    // Watches the ring without the lock for up to kPollNs: true when a response (or a
    // failure) is there to collect.
    bool poll_responses(Device* dev)
    {
        uint64_t deadline = monotonic_ns() + kPollNs;
        do {
            if (__atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE)
                || __atomic_load_n(&dev->sring->rsp_prod, __ATOMIC_ACQUIRE)
                    != __atomic_load_n(&dev->rsp_cons, __ATOMIC_RELAXED))
                return true;
            cpu_relax();
        } while (monotonic_ns() < deadline);
        return false;
    }

    // Publishes the requests written since the last push and kicks the backend only if it
    // asked for it (PV ABI 3.5). Lock held.
    void push_locked(Device* dev)
    {
        RING_IDX old = dev->sring->req_prod; // only we write it
        RING_IDX now = dev->req_prod_pvt;
        if (old == now)
            return;
        // Release: the request slots are written before the index (the write barrier).
        __atomic_store_n(&dev->sring->req_prod, now, __ATOMIC_RELEASE);
        full_barrier(); // the req_prod store before the req_event load
        RING_IDX event = __atomic_load_n(&dev->sring->req_event, __ATOMIC_RELAXED);
        if (RING_IDX(now - event) < RING_IDX(now - old)) {
            evtchn_notify(dev->port);
            ++dev->stats.notifications;
        }
    }

    // Writes one request for `nr_sectors` of op starting at op->_next into the next ring slot.
    void put_request(Device* dev, Slot* s, blk_op* op, uint32_t nr_sectors)
    {
        unsigned index = unsigned(s - dev->slots);
        blkif_sring_entry* entry = &dev->ring[dev->req_prod_pvt & (kRingSlots - 1)];
        s->op = op;
        s->seq = (s->seq + 1) & ((1ull << (64 - kIdIndexBits)) - 1);
        s->nr_sectors = nr_sectors;
        s->buf_offset = op->_next * 512;
        s->direct = false;
        s->nr_direct = 0;
        uint64_t id = s->seq << kIdIndexBits | index;

        if (op->type == BLK_OP_FLUSH) {
            blkif_request r {};
            r.operation = dev->feature_flush ? BLKIF_OP_FLUSH_DISKCACHE : BLKIF_OP_WRITE_BARRIER;
            r.handle = uint16_t(dev->devid);
            r.id = id;
            s->ring_op = s->data_op = r.operation;
            memcpy(&entry->req, &r, sizeof r);
        } else if (op->type == BLK_OP_DISCARD) {
            blkif_request_discard r {};
            r.operation = BLKIF_OP_DISCARD;
            r.handle = uint16_t(dev->devid);
            r.id = id;
            r.sector_number = op->sector;
            r.nr_sectors = op->count;
            s->ring_op = s->data_op = BLKIF_OP_DISCARD;
            memcpy(entry, &r, sizeof r);
        } else {
            uint8_t data_op = op->type == BLK_OP_WRITE ? BLKIF_OP_WRITE : BLKIF_OP_READ;
            uint8_t* data = static_cast<uint8_t*>(op->buf) + s->buf_offset;
            unsigned nr_segs = 0;
            blkif_request_segment segs[kMaxIndirectSegs];
            // A write only lets the backend read our pages: grant them read-only.
            s->direct = !dev->persistent && reinterpret_cast<uintptr_t>(data) % 512 == 0
                && grant_direct(
                    dev, s, data, nr_sectors, data_op == BLKIF_OP_WRITE, segs, &nr_segs);
            if (!s->direct) {
                if (data_op == BLKIF_OP_WRITE)
                    memcpy(s->pages, data, size_t(nr_sectors) * 512);
                nr_segs = (nr_sectors + kSectorsPerPage - 1) / kSectorsPerPage;
                for (unsigned i = 0; i < nr_segs; ++i) {
                    uint32_t left = nr_sectors - i * kSectorsPerPage;
                    segs[i] = blkif_request_segment {};
                    segs[i].gref = s->grefs[i];
                    segs[i].first_sect = 0;
                    segs[i].last_sect
                        = uint8_t((left < kSectorsPerPage ? left : kSectorsPerPage) - 1);
                }
            }
            s->data_op = data_op;
            if (nr_segs <= BLKIF_MAX_SEGMENTS_PER_REQUEST) {
                blkif_request r {};
                r.operation = data_op;
                r.nr_segments = uint8_t(nr_segs);
                r.handle = uint16_t(dev->devid);
                r.id = id;
                r.sector_number = op->sector + op->_next;
                memcpy(r.seg, segs, nr_segs * sizeof segs[0]);
                s->ring_op = data_op;
                memcpy(&entry->req, &r, sizeof r);
            } else {
                // The segment list goes into the slot's indirect page (granted read-only).
                memcpy(
                    s->pages + size_t(dev->slot_segs) * kPageSize, segs, nr_segs * sizeof segs[0]);
                blkif_request_indirect r {};
                r.operation = BLKIF_OP_INDIRECT;
                r.indirect_op = data_op;
                r.nr_segments = uint16_t(nr_segs);
                r.id = id;
                r.sector_number = op->sector + op->_next;
                r.handle = uint16_t(dev->devid);
                r.indirect_grefs[0] = s->indirect_gref;
                s->ring_op = BLKIF_OP_INDIRECT;
                memcpy(entry, &r, sizeof r);
            }
        }
        ++dev->req_prod_pvt;
    }

    bool waiting_for_slot(void* ctx)
    {
        auto* dev = static_cast<Device*>(ctx);
        return !__atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE)
            && !__atomic_load_n(&dev->free_list, __ATOMIC_ACQUIRE)
            && __atomic_load_n(&dev->sring->rsp_prod, __ATOMIC_ACQUIRE)
            == __atomic_load_n(&dev->rsp_cons, __ATOMIC_RELAXED);
    }

    struct OpWait {
        Device* dev;
        blk_op* op;
    };

    bool waiting_for_op(void* ctx)
    {
        auto* w = static_cast<OpWait*>(ctx);
        return !__atomic_load_n(&w->op->_done, __ATOMIC_ACQUIRE)
            && !__atomic_load_n(&w->dev->failed, __ATOMIC_ACQUIRE)
            && __atomic_load_n(&w->dev->sring->rsp_prod, __ATOMIC_ACQUIRE)
            == __atomic_load_n(&w->dev->rsp_cons, __ATOMIC_RELAXED);
    }

    // One round of waiting for a response, lock held (and held again on return): first a
    // poll of the ring without the lock; the next time, the final check of arm_locked and,
    // if nothing came in meanwhile, a sleep on the device's waiters while `must_wait(ctx)`.
    void wait_round_locked(Device* dev, bool& polled, bool (*must_wait)(void*), void* ctx)
    {
        uint64_t started = cycles();
        if (!polled) {
            polled = true;
            mutex_unlock(&dev->lock);
            poll_responses(dev);
            lock(dev);
            dev->stats.wait_cycles += cycles() - started;
            return;
        }
        if (arm_locked(dev))
            return; // a response came in meanwhile: collect it instead of sleeping
        mutex_unlock(&dev->lock);
        waitq_sleep_while(&dev->waiters, must_wait, ctx);
        lock(dev);
        ++dev->stats.sleeps;
        dev->stats.wait_cycles += cycles() - started;
        polled = false;
    }

    // Ends access to a grant we made; false if the backend still holds it (the page must
    // then stay allocated: it is parked, never reused).
    bool revoke(grant_ref_t ref)
    {
        for (int attempt = 0; attempt < 100; ++attempt) {
            int rc = gnttab_end_access(ref);
            if (rc != -EBUSY)
                return rc == 0;
            domus_sleep_ms(1);
        }
        return false;
    }

    // Ends the grants of a slot's bounce pages and frees them; pages whose grant the
    // backend still holds stay allocated (parked, never reused).
    void release_slot_pages(Device* dev, Slot& s, size_t per_slot)
    {
        bool all = true;
        for (uint32_t j = 0; j < dev->slot_segs; ++j)
            if (s.grefs[j] && !revoke(s.grefs[j]))
                all = false;
        if (s.indirect_gref && !revoke(s.indirect_gref))
            all = false;
        if (all)
            page_free(s.pages, per_slot);
        free(s.grefs);
        s.pages = nullptr;
        s.grefs = nullptr;
        s.indirect_gref = 0;
    }

    // Undoes a half-done setup_slots (the backend has not been told about any of it).
    void release_slots(Device* dev, unsigned nr_slots, size_t per_slot)
    {
        for (unsigned i = 0; i < nr_slots; ++i) {
            Slot& s = dev->slots[i];
            release_slot_pages(dev, s, per_slot);
            s = Slot {};
        }
        dev->free_list = nullptr;
        dev->nr_free = 0;
    }

} // namespace

int setup_slots(Device* dev)
{
    uint32_t segs = BLKIF_MAX_SEGMENTS_PER_REQUEST;
    bool indirect = false;
    if (dev->max_indirect > BLKIF_MAX_SEGMENTS_PER_REQUEST) {
        uint32_t want = dev->max_indirect < kMaxIndirectSegs ? dev->max_indirect : kMaxIndirectSegs;
        // Large requests only when the pool leaves most of the memory (and of the grant
        // table) to the application and to other devices (a plain pool needs 352 grants).
        size_t need = size_t(kRingSlots) * (want + 1);
        if (pages_free() >= 4 * need && gnttab_nr_free() >= need + kSpareGrants) {
            segs = want;
            indirect = true;
        }
    }
    dev->slot_segs = segs;
    dev->use_indirect = indirect;
    dev->stats = Stats {};
    dev->anchor_cycles = cycles();
    dev->anchor_ns = monotonic_ns();
    size_t per_slot = segs + (indirect ? 1 : 0);
    if (pages_free() < 2 * size_t(kRingSlots) * per_slot)
        return -ENOMEM;

    for (unsigned i = 0; i < kRingSlots; ++i) {
        Slot& s = dev->slots[i];
        s = Slot {};
        s.pages = static_cast<uint8_t*>(page_alloc(per_slot));
        s.grefs = static_cast<grant_ref_t*>(calloc(segs, sizeof(grant_ref_t)));
        if (!s.pages || !s.grefs) {
            if (s.pages)
                page_free(s.pages, per_slot);
            free(s.grefs);
            s = Slot {};
            release_slots(dev, i, per_slot);
            return -ENOMEM;
        }
        memset(s.pages, 0, per_slot * kPageSize);
        int rc = 0;
        for (uint32_t j = 0; j < segs && rc >= 0; ++j) {
            rc = gnttab_grant_access(dev->backend_id, s.pages + size_t(j) * kPageSize, 0);
            if (rc >= 0)
                s.grefs[j] = grant_ref_t(rc);
        }
        if (rc >= 0 && indirect) {
            rc = gnttab_grant_access(dev->backend_id, s.pages + size_t(segs) * kPageSize, 1);
            if (rc >= 0)
                s.indirect_gref = grant_ref_t(rc);
        }
        if (rc < 0) {
            release_slots(dev, i + 1, per_slot);
            return rc;
        }
        free_slot(dev, &s);
    }
    return 0;
}

void release(Device* dev)
{
    lock(dev);
    if (dev->failed && !dev->released) {
        end_stuck_locked(dev);
        size_t per_slot = dev->slot_segs + (dev->use_indirect ? 1 : 0);
        unsigned kept = 0;
        for (Slot& s : dev->slots) {
            if (s.op || !s.pages) { // in flight, its pages perhaps still the backend's
                kept += s.op ? 1 : 0;
                continue;
            }
            release_slot_pages(dev, s, per_slot);
        }
        dev->free_list = nullptr; // never taken again: the device has failed
        dev->nr_free = 0;
        // The ring page itself stays: waiters may still look at its indices.
        if (dev->sring)
            revoke(dev->ring_gref);
        if (dev->port)
            evtchn_close(dev->port);
        dev->released = true;
        if (kept)
            printk("blkfront: %s: %u requests still held; their pages stay\n", dev->name, kept);
    }
    mutex_unlock(&dev->lock);
}

bool drain_locked(Device* dev, uint64_t timeout_ns)
{
    // Every request pushed gets exactly one response: wait for all of them, collecting
    // (which completes the ops and wakes their threads, who run once the lock is free).
    uint64_t until = monotonic_ns() + timeout_ns;
    push_locked(dev);
    for (;;) {
        collect_locked(dev);
        if (dev->failed || dev->req_prod_pvt == dev->rsp_cons)
            return !dev->failed;
        if (monotonic_ns() > until)
            return false;
        mutex_unlock(&dev->lock);
        sleep_until(monotonic_ns() + 500'000);
        lock(dev);
    }
}

void reset_ring_locked(Device* dev)
{
    memset(dev->sring, 0, kPageSize);
    dev->sring->req_event = 1;
    dev->sring->rsp_event = 1;
    dev->req_prod_pvt = 0;
    dev->rsp_cons = 0;
}

void on_event(evtchn_port_t, void* data)
{
    waitq_wake_all(&static_cast<Device*>(data)->waiters); // upcall context: wake only
}

int submit(Device* dev, blk_op* op)
{
    uint64_t total = op_units(op);
    uint32_t max_sectors = dev->slot_segs * kSectorsPerPage;
    // A sector-aligned buffer goes zero-copy (put_request): a request then covers at most
    // slot_segs of its pages, the first one from the buffer's offset in it on.
    auto addr = reinterpret_cast<uintptr_t>(op->buf);
    if (!dev->persistent && addr % 512 == 0 && addr % kPageSize != 0)
        max_sectors -= uint32_t(addr % kPageSize) / 512;
    lock(dev);
    bool polled = false;
    while (op->_next < total) {
        if (dev->failed) {
            if (!op->status)
                op->status = -EIO;
            op->_next = total;
            break;
        }
        if (!dev->free_list) {
            push_locked(dev); // the backend must see what we queued before we wait on it
            collect_locked(dev);
            if (!dev->free_list && !dev->failed)
                wait_round_locked(dev, polled, waiting_for_slot, dev);
            continue;
        }
        Slot* s = dev->free_list;
        dev->free_list = s->next_free;
        --dev->nr_free;
        uint64_t left = total - op->_next;
        uint32_t n = op->type == BLK_OP_READ || op->type == BLK_OP_WRITE
            ? uint32_t(left < max_sectors ? left : max_sectors)
            : 1;
        uint64_t started = cycles();
        put_request(dev, s, op, n);
        dev->stats.submit_cycles += cycles() - started;
        ++op->_pending;
        op->_next += n;
        max_sectors = dev->slot_segs * kSectorsPerPage; // the next request starts a page
    }
    uint64_t started = cycles();
    push_locked(dev);
    dev->stats.submit_cycles += cycles() - started;
    if (op->_pending == 0)
        mark_done(op);
    mutex_unlock(&dev->lock);
    return 0;
}

int wait(blk_op* op)
{
    if (!__atomic_load_n(&op->_done, __ATOMIC_ACQUIRE)) {
        Device* dev = device(op->_dev);
        OpWait w { dev, op };
        bool polled = false;
        lock(dev);
        for (;;) {
            if (__atomic_load_n(&op->_done, __ATOMIC_ACQUIRE))
                break;
            if (dev->failed) {
                // Only ops whose pages the backend still holds are left: wait for it to
                // let go (it does when the device is torn down).
                end_stuck_locked(dev);
                if (__atomic_load_n(&op->_done, __ATOMIC_ACQUIRE))
                    break;
                mutex_unlock(&dev->lock);
                domus_sleep_ms(1);
                lock(dev);
                continue;
            }
            collect_locked(dev);
            if (__atomic_load_n(&op->_done, __ATOMIC_ACQUIRE))
                break;
            wait_round_locked(dev, polled, waiting_for_op, &w);
        }
        mutex_unlock(&dev->lock);
    }
    return op->status;
}

bool done(blk_op* op)
{
    if (__atomic_load_n(&op->_done, __ATOMIC_ACQUIRE))
        return true;
    Device* dev = device(op->_dev);
    lock(dev);
    if (dev->failed)
        end_stuck_locked(dev);
    collect_locked(dev);
    mutex_unlock(&dev->lock);
    return __atomic_load_n(&op->_done, __ATOMIC_ACQUIRE);
}

void stats(Device* dev, struct blk_stats* out)
{
    lock(dev);
    Stats st = dev->stats;
    uint64_t cycles_now = cycles(), ns_now = monotonic_ns();
    uint64_t span = cycles_now - dev->anchor_cycles;
    double ns_per_cycle = span ? double(ns_now - dev->anchor_ns) / double(span) : 0;
    mutex_unlock(&dev->lock);
    *out = {};
    out->requests = st.requests;
    out->submit_ns = uint64_t(double(st.submit_cycles) * ns_per_cycle);
    out->complete_ns = uint64_t(double(st.complete_cycles) * ns_per_cycle);
    out->wait_ns = uint64_t(double(st.wait_cycles) * ns_per_cycle);
    out->grant_ops = st.grant_ops;
    out->lock_acquisitions = st.lock_acquisitions;
    out->notifications = st.notifications;
    out->sleeps = st.sleeps;
}

void fail(Device* dev, const char* why, unsigned long value)
{
    lock(dev);
    fail_locked(dev, why, value);
    mutex_unlock(&dev->lock);
}

} // namespace domus::guest::blkfront
