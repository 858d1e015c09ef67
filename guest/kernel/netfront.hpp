// PV network frontend (Xen's netfront): the public side is <domus/net.h>. Parts:
//   netfront.cpp      finding device/vif/<n>, the XenBus handshake, the backend watch
//   netfront_io.cpp   the TX and RX rings: frames out of and into pre-granted pages
//   netfront_api.cpp  the C API
//
// Connected on first open (not at boot). Frames are copied: TX into kTxBuffers pages
// granted read-only to the backend once (a packet takes one per 4 KiB), RX out of
// kRxBuffers pages granted writable once and posted again as soon as their packet is
// copied out. As in Linux's netfront, an RX request's id is its ring position, so the
// page of every response is known by position, extra-info slots included (their
// response has no id). The backend is untrusted: its response indices, ids, offsets and
// lengths are checked before use.
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
constexpr unsigned kTxBuffers = NET_TX_RING_SIZE;
constexpr unsigned kRxBuffers = NET_RX_RING_SIZE;
// The data slots of one packet: 64 KiB in pages (Xen's XEN_NETIF_NR_SLOTS_MIN).
constexpr unsigned kMaxPacketSlots = XEN_NETIF_NR_SLOTS_MIN;

// The slots of the RX packet being gathered (consumed off the ring, pages not yet posted).
struct RxPiece {
    uint16_t buf;
    uint16_t offset;
    uint16_t len;
};

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
    uint16_t rx_slot_buf[kRxBuffers]; // the page posted in each ring slot
    // The RX packet being gathered (under rx_lock).
    RxPiece rx_pieces[kMaxPacketSlots];
    unsigned rx_piece_count;
    size_t rx_len;
    unsigned rx_flags; // NET_PACKET_*
    unsigned rx_gso_size;
    bool rx_bad; // an error slot or too many slots: dropped when complete
    bool rx_expect_extra;
    bool rx_complete;
    uint64_t rx_last_ns; // when the last RX response came (polling while streaming)
    unsigned offloads; // NET_OFFLOAD_*, fixed at connect
    domus_mutex_t tx_lock;
    domus_mutex_t rx_lock;
    domus_waitq waiters; // senders waiting for a slot, receivers waiting for a frame
    bool connected;
    bool was_connected; // at suspend
    bool quiesced; // suspended: users wait in `resumed`, off the rings and their locks
    domus_waitq resumed;
    bool failed; // set once, read anywhere; waiters wake
    bool fail_reported;
    uint32_t state_gen; // bumped by the backend-state watch
    struct net_stats stats;
};

// Thread context. The handle of the connected interface, or a negative errno. The first
// open asks the backend for `offloads`.
int open(unsigned devid, unsigned offloads);
Nic* nic(int handle); // null for an unknown handle

// netfront_io.cpp
void on_event(evtchn_port_t port, void* data); // upcall context: wakes the waiters
int post_all_rx(Nic* nic); // at connect: every RX page on the ring
long send(Nic* nic, const struct net_part* parts, unsigned count, const struct net_packet* packet);
long peek(Nic* nic, struct net_packet* packet);
long take(Nic* nic, const struct net_buffer* buffers, unsigned count);
void fail(Nic* nic, const char* why, unsigned long value);
// suspend.cpp's hooks: before SCHEDOP_shutdown(SHUTDOWN_suspend), and after it returns
// (in a new domain each interface reconnects to its new backend).
void suspend();
void resume(bool new_domain);

} // namespace domus::guest::netfront

// The stack above (guest/net) is told when interface `handle` reconnected in a new
// domain, to announce its addresses (gratuitous ARP). Weak: absent without a stack.
extern "C" void domus_net_resumed(int handle) __attribute__((weak));

namespace domus::guest::netfront {

} // namespace domus::guest::netfront
