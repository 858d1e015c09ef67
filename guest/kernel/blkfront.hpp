// PV block frontend (blkif): the public side is <domus/block.h>. Parts:
//   blkfront.cpp      probe of device/vbd (at boot, then on every change: hot-plug),
//                     the XenBus handshake, backend watch
//   blkfront_io.cpp   the ring: bounce slots, request building, response checking,
//                     notification suppression, device failure
//   blkfront_api.cpp  the C API (sync calls on top of submit/wait)
//
// Persistent grants (Xen's feature-persistent) when the backend offers them and the
// kernel command line says blkfront.persistent=1: every request then uses its slot's
// bounce pages, which the backend keeps mapped, and the data is copied between them and
// the caller's buffer; no grant is made, mapped or revoked per request. Zero-copy is the
// default because it is the faster design here: a grant costs the monitor a table
// lookup, not a TLB shootdown as in Xen, while the extra copy halves the memory
// bandwidth left to the backend's (docs/specification.md has both figures).
//
// Otherwise, data pages: a caller's buffer that is sector-aligned (512 bytes) is used directly: its
// pages are granted to the backend for one request and revoked when the response has
// come (zero-copy; the backend releases a grant before it answers). Other buffers, or
// any request when the grant table runs short, go through bounce pages: every ring slot
// owns `slot_segs` of them (plus one indirect page when the backend offers indirect
// requests), granted once at connect time; the data is copied in (write, at submit)
// and out (read, at completion).
//
// Notifications (PV ABI 3.5, 3.6): a thread that waits for a response first polls the
// ring for a short while and arms rsp_event only before it sleeps, so a busy device
// gets no events (each an upcall, tens of microseconds here); the backend polls the
// same way, so a busy frontend rings no doorbells.
//
// Concurrency: one mutex per device guards the private ring indices, the slots and the
// ops' counters. The event handler only wakes the device's wait queue; responses are
// collected by whichever thread submits or waits (under the mutex), so no extra thread
// sits on the I/O path.
#pragma once

#include <domus/abi/blkif.h>
#include <domus/block.h>
#include <domus/gnttab.h>
#include <domus/guest.h>

#include <stddef.h>
#include <stdint.h>

namespace domus::guest::blkfront {

constexpr unsigned kRingSlots = BLKIF_RING_SIZE_1PAGE; // one ring page: 32 requests
constexpr uint32_t kMaxIndirectSegs = 32; // per request: 128 KiB
constexpr uint64_t kHandshakeTimeoutNs = 10'000'000'000; // per step, like libxl's 10 s

struct Slot {
    blk_op* op; // null: free
    Slot* next_free;
    uint64_t seq; // bumped per use; the upper bits of the request id
    uint64_t buf_offset; // byte offset of this request's data in op->buf
    uint32_t nr_sectors; // of this request
    uint8_t ring_op; // the operation byte we sent (checked against the response)
    uint8_t data_op; // BLKIF_OP_READ/WRITE, or the flush/discard op
    uint8_t* pages; // slot_segs contiguous bounce pages (+ the indirect page)
    grant_ref_t* grefs; // one per bounce page
    grant_ref_t indirect_gref;
    // Zero-copy: grants of the caller's pages made for this request, revoked at its
    // response. A failed device whose backend still holds one keeps the op waiting
    // (stuck) until the revocation succeeds: the caller never gets back a page the
    // backend may still write.
    bool direct; // this request uses the caller's pages (not the bounce pages)
    bool stuck;
    uint32_t nr_direct; // grants of those pages not yet revoked
    grant_ref_t direct_grefs[kMaxIndirectSegs];
};

// Where the frontend's time goes (blk_stats): TSC cycles by stage, and counts.
struct Stats {
    uint64_t requests; // ring requests answered
    uint64_t submit_cycles; // building requests: grants, ring slots, bounce copies, push
    uint64_t complete_cycles; // checking responses, revoking grants, bounce copies
    uint64_t wait_cycles; // waiting for a response or a slot: polling, then sleeping
    uint64_t grant_ops; // data grants made and revoked (each takes the table's lock)
    uint64_t lock_acquisitions; // of the device lock
    uint64_t notifications; // doorbells to the backend
    uint64_t sleeps; // waits that armed rsp_event and slept
};

struct Device {
    // identity, from the store
    unsigned devid;
    char name[16];
    char fe_path[48]; // device/vbd/<devid> (relative to home)
    char be_path[128]; // backend directory
    domid_t backend_id;
    // features and properties of the backend
    uint64_t sectors;
    uint32_t sector_size;
    bool read_only;
    bool feature_flush;
    bool feature_barrier;
    bool feature_discard;
    uint32_t max_indirect; // 0: no indirect requests
    bool feature_persistent; // the backend keeps our grants mapped if we ask
    // We asked: every request goes through the slots' bounce pages, granted once, and the
    // data is copied in and out of them (no per-request grants; see blkfront_io.cpp).
    bool persistent;
    // transport
    ring_sring_header* sring;
    blkif_sring_entry* ring;
    grant_ref_t ring_gref;
    evtchn_port_t port;
    uint32_t slot_segs; // data pages per slot = segments per request
    bool use_indirect;
    // I/O state (lock)
    domus_mutex_t lock;
    RING_IDX req_prod_pvt;
    RING_IDX rsp_cons;
    Slot slots[kRingSlots];
    Slot* free_list;
    unsigned nr_free;
    bool failed; // set under lock, read anywhere
    bool fail_reported; // the store has been told (Closing)
    bool connected;
    bool released; // release() gave the pages and grants back (lock)
    bool ever_connected; // a failed device that had connected can be replaced (hot-plug)
    domus_waitq waiters; // threads waiting for a response, a slot or their op
    Stats stats; // (lock)
    uint64_t anchor_cycles, anchor_ns; // at setup: the time base of the stats' cycles
    // handshake
    uint32_t state_gen; // bumped by the backend-state watch
};

// Boot context, after init_xenbus: starts the "blkfront-probe" thread when there is a
// store; without one, blk_count() is 0 at once.
void init();

int count(); // waits for the probe
int wait_count(int n, uint64_t timeout_ms); // hot-plug: count() >= n, or -ETIMEDOUT
Device* device(int index);
// After I/O: tells the store (state Closing) once when dev has failed. Thread context.
void report_failure(Device* dev);

// blkfront_io.cpp
int setup_slots(Device* dev); // allocates and grants the bounce pages; 0 or -errno
void on_event(evtchn_port_t port, void* data);
// Suspend (the device lock held): every request answered, within the timeout. False if
// the device failed or the backend did not answer them all.
bool drain_locked(Device* dev, uint64_t timeout_ns);
void reset_ring_locked(Device* dev); // an empty ring page and indices, for a new backend
// suspend.cpp: before SCHEDOP_shutdown(SHUTDOWN_suspend), every connected device drained
// and its lock kept (no request starts); resume() reconnects each to its new backend in a
// new domain (same ring page and grants, a new port) and lets the requests go.
void suspend();
void resume(bool new_domain);
int submit(Device* dev, blk_op* op);
int wait(blk_op* op);
bool done(blk_op* op);
void stats(Device* dev, struct blk_stats* out);
// Marks dev failed (once): in-flight ops end with -EIO, waiters wake. Takes the lock.
void fail(Device* dev, const char* why, unsigned long value);
// After the backend is gone (hot-unplug): gives back the bounce pages, grants and the
// event channel of a failed device, except what a request still in flight holds. Once.
void release(Device* dev);

} // namespace domus::guest::blkfront
