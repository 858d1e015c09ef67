// PV console frontend for channels (secondary consoles): the public side is
// <domus/channel.h>. Parts:
//   consfront.cpp      finding device/console/<n> by name, the XenBus handshake, backend watch
//   consfront_io.cpp   the ring (xencons_interface): reads of `in`, writes of `out`
//   consfront_api.cpp  the C API
//
// The primary console (console.cpp) stays the start_info ring; this is only for
// device/console/<n>, n >= 1, connected on first open (not at boot), so a guest that
// never uses a channel never connects it.
//
// Concurrency: a channel's readers take read_lock, its writers write_lock; the event
// handler only wakes the channel's wait queue. The backend is untrusted: its indices are
// read once per pass and checked against the buffer sizes.
#pragma once

#include <domus/abi/console.h>
#include <domus/channel.h>
#include <domus/gnttab.h>
#include <domus/guest.h>

#include <stddef.h>
#include <stdint.h>

namespace domus::guest::consfront {

constexpr uint64_t kHandshakeTimeoutNs = 10'000'000'000; // per step, like libxl's 10 s
constexpr size_t kMaxName = 64;

struct Channel {
    // identity, from the store
    unsigned devid;
    char name[kMaxName + 1];
    char fe_path[48]; // device/console/<devid> (relative to home)
    char be_path[128]; // backend directory
    domid_t backend_id;
    // transport
    xencons_interface* ring;
    grant_ref_t ring_gref;
    evtchn_port_t port;
    XENCONS_RING_IDX out_prod; // ours; the shared copy is only published
    XENCONS_RING_IDX in_cons; // ours
    domus_mutex_t read_lock;
    domus_mutex_t write_lock;
    domus_waitq waiters; // readers waiting for bytes, writers waiting for space
    bool connected;
    bool held; // connected at a suspend: reconnected (or let go) at resume
    bool failed; // set once, read anywhere; waiters wake
    bool fail_reported;
    uint32_t state_gen; // bumped by the backend-state watch
};

// Thread context. The handle of the connected channel `name`, or a negative errno.
int open(const char* name);
Channel* channel(int handle); // null for an unknown handle

// Around a suspend (suspend.cpp): each connected channel lets go of its port (nothing
// is notified meanwhile; bytes written stay in the ring). resume: in a new domain, the
// handshake again with the new backend (its path has the new domain ID) on the same ring
// page, grant and indices, with a new event channel: the new backend takes the indices
// from the page, so nothing in the ring is lost. Else the old port again.
void suspend();
void resume(bool new_domain);

// consfront_io.cpp
void notify(Channel* ch); // the backend, unless the channel has no port (suspended)
void on_event(evtchn_port_t port, void* data); // upcall context: wakes the waiters
long read(Channel* ch, void* buf, size_t len);
long write(Channel* ch, const void* buf, size_t len);
// Marks ch failed (once) and wakes every waiter; says why on the console.
void fail(Channel* ch, const char* why, unsigned long value);

} // namespace domus::guest::consfront
