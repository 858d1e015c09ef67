// PV network frontend (Xen's netfront): the public side is <domus/net.h>. Parts:
//   netfront.cpp      finding device/vif/<n>, the XenBus handshake, the backend watch
//   netfront_io.cpp   the TX and RX rings: frames out of and into pre-granted pages
//   netfront_api.cpp  the C API
//
// Connected on first open (not at boot). Frames are copied: TX into one of kTxBuffers
// pages granted read-only to the backend once, RX out of kRxBuffers pages granted
// writable once and posted again as soon as their frame is copied out. The backend is
// untrusted: its response indices, ids, offsets and lengths are checked before use.
#pragma once

#include "front_ring.hpp"

#include <domus/abi/netif.h>
#include <domus/gnttab.h>
#include <domus/guest.h>
#include <domus/net.h>

#include <stddef.h>
#include <stdint.h>

namespace domus::guest::netfront {

constexpr uint64_t kHandshakeTimeoutNs = 10'000'000'000; // per step, like libxl's 10 s
constexpr unsigned kTxBuffers = 64;
constexpr unsigned kRxBuffers = 64;

using TxRing = FrontRing<netif_tx_sring_entry, netif_tx_request, netif_tx_response>;
using RxRing = FrontRing<netif_rx_sring_entry, netif_rx_request, netif_rx_response>;

struct Nic {
    // identity, from the store
    unsigned devid;
    char fe_path[48]; // device/vif/<devid> (relative to home)
    char be_path[128];
    domid_t backend_id;
    uint8_t mac[6];
    char ip[64];
    // transport
    TxRing tx;
    RxRing rx;
    grant_ref_t tx_ring_gref, rx_ring_gref;
    evtchn_port_t port;
    uint8_t* tx_buf[kTxBuffers];
    grant_ref_t tx_gref[kTxBuffers];
    bool tx_busy[kTxBuffers];
    uint16_t tx_free[kTxBuffers];
    unsigned tx_free_count;
    uint8_t* rx_buf[kRxBuffers];
    grant_ref_t rx_gref[kRxBuffers];
    domus_mutex_t tx_lock;
    domus_mutex_t rx_lock;
    domus_waitq waiters; // senders waiting for a slot, receivers waiting for a frame
    bool connected;
    bool failed; // set once, read anywhere; waiters wake
    bool fail_reported;
    uint32_t state_gen; // bumped by the backend-state watch
    bool rx_skip_next; // the next RX response is an extra-info slot (under rx_lock)
    struct net_stats stats;
};

// Thread context. The handle of the connected interface, or a negative errno.
int open(unsigned devid);
Nic* nic(int handle); // null for an unknown handle

// netfront_io.cpp
void on_event(evtchn_port_t port, void* data); // upcall context: wakes the waiters
int post_all_rx(Nic* nic); // at connect: every RX page on the ring
long send(Nic* nic, const void* frame, size_t len);
long receive(Nic* nic, void* buf, size_t len);
void fail(Nic* nic, const char* why, unsigned long value);
// suspend.cpp's hooks: before SCHEDOP_shutdown(SHUTDOWN_suspend), and after it returns.
void suspend();
void resume(bool new_domain);

} // namespace domus::guest::netfront
