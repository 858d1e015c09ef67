/* Domus guest kernel: PV network interfaces (Xen's netif, netfront), C API for
 * applications (C and C++). Frames in, frames out: a TCP/IP stack (lwIP) sits on this.
 *
 * The toolstack lists a domain's interfaces under device/vif/<n> in the store (xl.cfg
 * `vif = [ '...' ]`, `domus run --vif`). net_open connects interface <n> to its backend
 * the first time it is called: two rings (TX, RX) of one page each, one event channel,
 * rx-copy (the backend copies each frame into pages the guest posted). By default
 * checksums are the sender's: the frontend announces no checksum offload, so the host
 * fills in the checksums of the frames it sends here and expects those sent from here to
 * be whole. A TCP/IP stack opens the interface with offloads instead (net_open_offload):
 * checksums may then be left blank both ways, and large TCPv4 packets (up to
 * NET_MAX_PACKET) travel whole, in pieces of one page each, segmented by the host (GSO).
 *
 * Common contracts:
 *  - All functions are "thread" functions (guest.h): they may block; never call them
 *    from an event handler. Any number of threads may send and receive on one interface.
 *  - Results are a count or 0 on success, or a negative errno of the guest C library's
 *    <errno.h>: -ENODEV no store; -ENOENT no such interface; -EINVAL a bad argument;
 *    -EMSGSIZE a frame larger than NET_MAX_FRAME; -ETIMEDOUT the backend did not answer
 *    the handshake in ~10 s per step; -EIO the backend closed the interface or broke the
 *    ring protocol (every later call on that handle returns -EIO). */
#ifndef DOMUS_NET_H
#define DOMUS_NET_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NET_MAX_OPEN 4
#define NET_MAX_FRAME 1514 /* Ethernet header + 1500 bytes */
#define NET_MAX_PACKET (65535 + 14) /* a large TCPv4 packet (GSO) with its Ethernet header */

/* Offloads (net_open_offload, net_info.offloads). */
#define NET_OFFLOAD_CSUM 1u /* TCP/UDP checksums may be left blank, both ways */
#define NET_OFFLOAD_GSO 2u /* large TCPv4 packets, both ways (with NET_OFFLOAD_CSUM) */

struct net_info {
    uint8_t mac[6]; /* the interface's own address (the toolstack's `mac`) */
    char ip[64]; /* the toolstack's `ip` key ("A.B.C.D[/LEN] ..."), "" when none */
    unsigned offloads; /* what this interface does, NET_OFFLOAD_* */
};

/* Connects device/vif/<devid> (or finds it connected) and returns its handle (>= 0);
 * `info` (may be NULL) gets its address. */
int net_open(unsigned devid, struct net_info* info);
/* As net_open, asking for `offloads` (NET_OFFLOAD_*); info->offloads says which the
 * backend granted. The first open of an interface fixes its offloads. */
int net_open_offload(unsigned devid, unsigned offloads, struct net_info* info);

/* Sends one whole Ethernet frame (14..NET_MAX_FRAME bytes, checksums filled in); blocks
 * while every transmit slot is in use. Returns len. */
long net_send(int nic, const void* frame, size_t len);

/* As net_send, for a frame given in `count` pieces (a TCP/IP stack's buffer chain). */
struct net_part {
    const void* data;
    size_t len;
};
long net_send_parts(int nic, const struct net_part* parts, unsigned count);

/* Blocks until a frame has arrived; copies it (cut to len) and returns its length. */
long net_receive(int nic, void* buf, size_t len);

/* A packet's offload state. */
#define NET_PACKET_CSUM_BLANK 1u /* its TCP/UDP checksum is not filled in */
#define NET_PACKET_DATA_VALIDATED 2u /* its checksum is known to be good (RX: the host checked) */
struct net_packet {
    size_t len; /* RX: the whole packet's length */
    unsigned flags; /* NET_PACKET_* */
    unsigned gso_size; /* a large TCPv4 packet's segment size (its MSS); 0 = one frame */
};

/* Sends one packet in `count` pieces with its offload state (csum blank: the checksum
 * field holds 0 or the pseudo-header sum; gso_size: a TCPv4 packet over NET_MAX_FRAME).
 * Returns its length. */
long net_send_packet(
    int nic, const struct net_part* parts, unsigned count, const struct net_packet* packet);

/* The receive side for a stack with its own buffers, one thread per interface: peek
 * blocks until a whole packet has arrived and describes it (returns its length); take
 * copies that packet into `count` buffers (what does not fit is cut) and consumes it. */
struct net_buffer {
    void* data;
    size_t len;
};
long net_peek_packet(int nic, struct net_packet* packet);
long net_take_packet(int nic, const struct net_buffer* buffers, unsigned count);

struct net_stats {
    uint64_t tx_frames, rx_frames, tx_errors, rx_errors, notifications;
};
int net_stats(int nic, struct net_stats* stats);

#ifdef __cplusplus
}
#endif

#endif
