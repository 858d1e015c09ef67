// The XenStore client (the public side is <domus/xenbus.h>). Parts, one idea per file:
//   xenbus_ring.cpp     the ring page byte streams (section 2 of the PV ABI reference)
//   xenbus.cpp          init, request/reply matching by req_id, the "xenbus-rx" thread
//   xenbus_errno.cpp    XS_ERROR names -> <errno.h> values
//   xenbus_watch.cpp    watch registry and the "xenbus-watch" thread that runs callbacks
//   xenbus_api.cpp      the C API's read/write/directory/perms/transaction calls
//   xenbus_shutdown.cpp control/shutdown watcher (poweroff, reboot, suspend: suspend.cpp)
//
// Threads: "xenbus-rx" is the only ring reader. The store's event wakes it; it reassembles
// each message, hands replies to the thread waiting for that req_id and queues watch
// events for "xenbus-watch", which calls the callbacks (so they may use xenbus again).
// Requesters write whole messages under one writer mutex. Everything here runs in
// threads except the event handler, which only wakes waiters. Memory comes from malloc.
#pragma once

#include <domus/abi/xs_wire.h>
#include <domus/xenbus.h>
#include <stddef.h>
#include <stdint.h>

namespace domus::guest {

// Connects to the store that start_info names (nothing if store_mfn is 0) and starts the
// xenbus threads; the shutdown watcher registers from "xenbus-watch". Boot context, once.
void init_xenbus();

namespace xenbus {

    // One piece of a message payload.
    struct Part {
        const void* data;
        size_t len;
    };

    // A successful reply: `data` holds `len` payload bytes plus a NUL after them (malloc'd;
    // the caller frees it).
    struct Reply {
        uint32_t type;
        uint32_t len;
        char* data;
    };

    bool enabled(); // a store is connected and the connection has not failed

    // Sends one request (payload = the parts, concatenated) and waits for its reply.
    // Returns 0 and fills *reply, or a negative errno (XS_ERROR mapped; -ENODEV, -EIO, -E2BIG).
    int request(
        uint32_t type, xenbus_transaction_t tx, const Part* parts, unsigned nparts, Reply* reply);
    // The same for requests whose success reply carries nothing of interest ("OK").
    int request_ok(uint32_t type, xenbus_transaction_t tx, const Part* parts, unsigned nparts);

    // XS_ERROR payload -> negative errno (unknown names: -EINVAL).
    int error_from_name(const char* name, size_t len);

    // xenbus_ring.cpp. One writer at a time (the caller serialises), one reader (xenbus-rx).
    bool ring_init(xenstore_domain_interface* intf, evtchn_port_t port);
    int ring_write(const Part* parts, unsigned nparts); // blocks for space; 0 or -EIO
    int ring_read(void* buf, size_t len); // blocks until len bytes; 0 or -EIO
    // Suspend: holds new requests back and waits (bounded) for the replies in flight.
    // resume(): lets them go; in a new domain first the new ring, port and watches.
    void suspend();
    void resume(bool new_domain);
    void ring_reset(evtchn_port_t port); // xenbus_ring.cpp: indices from the page, new port
    void watches_resume(); // xenbus_watch.cpp: every watch registered again
    // Reports a protocol violation once and stops the connection for good (wakes the waiters).
    void ring_fail(const char* what, unsigned long value);
    bool ring_failed();

    // xenbus_watch.cpp
    void watch_start_thread(); // creates "xenbus-watch"
    void watch_queue_event(char* data, uint32_t len); // takes ownership of data (xenbus-rx)
    // xenbus_watch() from a short-lived thread of its own: the caller does not wait for the
    // store's reply (a boot-time watch need not hold main() back a round trip). The
    // watch's first event follows its registration as always; a failure is printed with
    // `what`, which the watch misses.
    void watch_soon(
        const char* path, const char* token, xenbus_watch_fn fn, void* arg, const char* what);

    // xenbus_shutdown.cpp: feature-poweroff/-reboot and the control/shutdown watch.
    void shutdown_watcher_start(); // in xenbus-watch, before it dispatches events

} // namespace xenbus

} // namespace domus::guest
