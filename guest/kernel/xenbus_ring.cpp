// The xenstore ring page, guest side (see xenbus.hpp and xs_wire.h): we produce `req`
// and consume `rsp`. Indices are free-running u32 byte counts; we keep our own copy of
// the index we own (req_prod, rsp_cons) and never read it back from the shared page, and
// we check every index the store publishes: more than XENSTORE_RING_SIZE in flight means
// a broken or hostile store, which is reported and disconnected, never trusted.
#include "events.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "xenbus.hpp"

#include <errno.h>
#include <string.h>

namespace domus::guest::xenbus {

namespace {

    xenstore_domain_interface* ring;
    evtchn_port_t store_port;
    XENSTORE_RING_IDX req_prod; // ours; published to ring->req_prod
    XENSTORE_RING_IDX rsp_cons; // ours; published to ring->rsp_cons
    uint32_t failed; // set once by ring_fail, read by the wait predicates
    domus_waitq rx_waiters; // xenbus-rx, waiting for rsp bytes
    domus_waitq tx_waiters; // the writer, waiting for req space

    uint32_t load(const uint32_t* p) { return __atomic_load_n(p, __ATOMIC_RELAXED); }

    // The store stopped serving us (XENSTORE_SERVER_FEATURE_ERROR) or we gave up on it.
    bool dead()
    {
        if (__atomic_load_n(&failed, __ATOMIC_ACQUIRE))
            return true;
        return (load(&ring->server_features) & XENSTORE_SERVER_FEATURE_ERROR)
            && load(&ring->error) != XENSTORE_ERROR_NONE;
    }

    // A reconnect is in progress (only the store may end it): the ring must not be used.
    bool paused() { return load(&ring->connection) != XENSTORE_CONNECTED; }

    // Wait predicates: evaluated under the scheduler lock, so an event that changes the
    // answer and then wakes the queue cannot be missed (waitq_sleep_while).
    bool rx_must_wait(void*) { return !dead() && (paused() || load(&ring->rsp_prod) == rsp_cons); }
    bool tx_must_wait(void*)
    {
        return !dead() && (paused() || req_prod - load(&ring->req_cons) >= XENSTORE_RING_SIZE);
    }

    // Upcall context: the store produced replies or consumed requests. Only wakes threads.
    void on_store_event(evtchn_port_t, void*)
    {
        waitq_wake_all(&rx_waiters);
        waitq_wake_all(&tx_waiters);
    }

    int check_alive()
    {
        if (!dead())
            return 0;
        if (!__atomic_load_n(&failed, __ATOMIC_ACQUIRE))
            ring_fail("store set the ring's error field to", load(&ring->error));
        return -EIO;
    }

} // namespace

bool ring_init(xenstore_domain_interface* intf, evtchn_port_t port)
{
    ring = intf;
    store_port = port;
    // Indices need not start at 0: continue from wherever the page says we are.
    req_prod = load(&intf->req_prod);
    rsp_cons = load(&intf->rsp_cons);
    evtchn_bind_existing(port);
    evtchn_set_handler(port, on_store_event, nullptr);
    evtchn_unmask(port);
    return true;
}

void ring_reset(evtchn_port_t port)
{
    // Resumed in a new domain: a cleared page, a new store behind it and a new port.
    ring_init(ring, port);
    waitq_wake_all(&rx_waiters);
    waitq_wake_all(&tx_waiters);
}

bool ring_failed() { return ring && dead(); }

void ring_fail(const char* what, unsigned long value)
{
    if (__atomic_exchange_n(&failed, 1u, __ATOMIC_ACQ_REL))
        return;
    printk("xenbus: store protocol violation: %s %lu; store connection closed\n", what, value);
    waitq_wake_all(&rx_waiters);
    waitq_wake_all(&tx_waiters);
}

int ring_write(const Part* parts, unsigned nparts)
{
    unsigned i = 0;
    size_t done = 0; // bytes of parts[i] already in the ring
    while (i < nparts) {
        if (int rc = check_alive())
            return rc;
        // Acquire = read barrier: we read req_cons before checking the space it frees and
        // before overwriting those bytes, so the store has finished reading them.
        XENSTORE_RING_IDX cons = __atomic_load_n(&ring->req_cons, __ATOMIC_ACQUIRE);
        XENSTORE_RING_IDX used = req_prod - cons;
        if (used > XENSTORE_RING_SIZE) {
            ring_fail("req_cons ran past req_prod; bytes in flight:", used);
            return -EIO;
        }
        if (used == XENSTORE_RING_SIZE || paused()) {
            waitq_sleep_while(&tx_waiters, tx_must_wait, nullptr);
            continue;
        }
        size_t space = XENSTORE_RING_SIZE - used;
        while (space && i < nparts) {
            const char* src = static_cast<const char*>(parts[i].data) + done;
            size_t n = parts[i].len - done;
            if (n > space)
                n = space;
            // Up to the end of the ring, then from its start.
            size_t at = MASK_XENSTORE_IDX(req_prod);
            size_t first = n < XENSTORE_RING_SIZE - at ? n : XENSTORE_RING_SIZE - at;
            memcpy(ring->req + at, src, first);
            memcpy(ring->req, src + first, n - first);
            req_prod += XENSTORE_RING_IDX(n);
            space -= n;
            done += n;
            if (done == parts[i].len) {
                ++i;
                done = 0;
            }
        }
        // Release = write barrier: the bytes above are visible before the new req_prod.
        __atomic_store_n(&ring->req_prod, req_prod, __ATOMIC_RELEASE);
        evtchn_notify(store_port);
    }
    return 0;
}

int ring_read(void* buf, size_t len)
{
    char* dst = static_cast<char*>(buf);
    while (len) {
        if (int rc = check_alive())
            return rc;
        // Acquire = read barrier: rsp_prod is read before the bytes it covers.
        XENSTORE_RING_IDX prod = __atomic_load_n(&ring->rsp_prod, __ATOMIC_ACQUIRE);
        XENSTORE_RING_IDX avail = prod - rsp_cons;
        if (avail > XENSTORE_RING_SIZE) {
            ring_fail("rsp_prod ran ahead of rsp_cons by", avail);
            return -EIO;
        }
        if (avail == 0 || paused()) {
            waitq_sleep_while(&rx_waiters, rx_must_wait, nullptr);
            continue;
        }
        size_t n = avail < len ? avail : len;
        size_t at = MASK_XENSTORE_IDX(rsp_cons);
        size_t first = n < XENSTORE_RING_SIZE - at ? n : XENSTORE_RING_SIZE - at;
        memcpy(dst, ring->rsp + at, first);
        memcpy(dst + first, ring->rsp, n - first);
        XENSTORE_RING_IDX before = rsp_cons;
        rsp_cons += XENSTORE_RING_IDX(n);
        // Full barrier (what the protocol asks for): our reads of those bytes are complete
        // before the store can see the new rsp_cons and reuse the space, and the new
        // rsp_cons is visible before we look at rsp_prod again below.
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        __atomic_store_n(&ring->rsp_cons, rsp_cons, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
        // Kick only a store that may be waiting for space: one that had filled the ring
        // (Linux's xenbus rule). A doorbell is an exit (~30 us of vCPU time on a nested
        // host), and most replies are read in two pieces; a store waiting on a ring that
        // is not full finds the space by itself (it retries, domain_ring_transport.hpp).
        if (load(&ring->rsp_prod) - before >= XENSTORE_RING_SIZE)
            evtchn_notify(store_port);
        dst += n;
        len -= n;
    }
    return 0;
}

} // namespace domus::guest::xenbus
