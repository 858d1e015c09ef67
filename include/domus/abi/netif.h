/* Domus guest ABI: the PV network protocol (netif), after Xen's io/netif.h. Layouts are
 * the x86_64 ones; two rings of one page each, TX (guest to host) and RX (host to guest).
 *
 * A packet on TX: one request with the packet's whole `size` and NETTXF_more_data when
 * more slots follow, then a request per further fragment (its own size only); extra-info
 * slots (NETTXF_extra_info, GSO) follow the first request. Every request gets a response
 * in its own slot order, with its `id` echoed; an extra-info slot's response is
 * XEN_NETIF_RSP_NULL. At most XEN_NETIF_NR_SLOTS_MIN data slots per packet are always
 * accepted.
 * RX is rx-copy only (`request-rx-copy` = 1): the guest posts empty granted pages, the
 * backend copies packets into them and answers each request in its slot with the bytes
 * written (status > 0), its offset and flags, or an error (status < 0).
 * Neither side needs to notify the other for RX requests it posts; other notifications
 * follow the rings' event indices (ring.h).
 *
 * XenStore keys:
 *  backend  /local/domain/0/backend/vif/<fdom>/<devid>/: frontend, frontend-id, online,
 *           state, handle, mac, bridge, script, type, feature-sg, feature-gso-tcpv4,
 *           feature-gso-tcpv6, feature-rx-copy, feature-rx-flip (0),
 *           feature-no-csum-offload, feature-ipv6-csum-offload,
 *           multi-queue-max-queues (only features actually served)
 *  frontend /local/domain/<fdom>/device/vif/<devid>/: backend, backend-id, handle, mac,
 *           state, tx-ring-ref, rx-ring-ref, event-channel, request-rx-copy, feature-sg,
 *           feature-gso-tcpv4, feature-gso-tcpv6, feature-rx-notify */
#ifndef DOMUS_ABI_NETIF_H
#define DOMUS_ABI_NETIF_H

#include "ring.h"

typedef uint32_t grant_ref_t;

/* The largest packet a TX request chain may carry, and the data slots per packet a
 * backend must always accept. */
#define XEN_NETIF_MAX_TX_SIZE 0xFFFF
#define XEN_NETIF_NR_SLOTS_MIN 18

/* TX request flags. */
#define NETTXF_csum_blank (1u << 0)     /* the L4 checksum is to be filled in (offload) */
#define NETTXF_data_validated (1u << 1) /* the checksum is known to be good */
#define NETTXF_more_data (1u << 2)      /* the packet continues in the next request */
#define NETTXF_extra_info (1u << 3)     /* extra-info slots follow this request */

struct netif_tx_request {
    grant_ref_t gref; /* the page holding this fragment */
    uint16_t offset;  /* within that page */
    uint16_t flags;   /* NETTXF_* */
    uint16_t id;      /* echoed in the response */
    uint16_t size;    /* first request: the whole packet; others: this fragment */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct netif_tx_request) == 12, "layout");

/* Extra-info slots. */
#define XEN_NETIF_EXTRA_TYPE_NONE 0
#define XEN_NETIF_EXTRA_TYPE_GSO 1
#define XEN_NETIF_EXTRA_TYPE_MCAST_ADD 2
#define XEN_NETIF_EXTRA_TYPE_MCAST_DEL 3
#define XEN_NETIF_EXTRA_TYPE_HASH 4
#define XEN_NETIF_EXTRA_TYPE_MAX 5

#define XEN_NETIF_EXTRA_FLAG_MORE (1u << 0) /* another extra-info slot follows */

#define XEN_NETIF_GSO_TYPE_NONE 0
#define XEN_NETIF_GSO_TYPE_TCPV4 1
#define XEN_NETIF_GSO_TYPE_TCPV6 2

struct netif_extra_info {
    uint8_t type;  /* XEN_NETIF_EXTRA_TYPE_* */
    uint8_t flags; /* XEN_NETIF_EXTRA_FLAG_* */
    union {
        struct {
            uint16_t size; /* the segment payload size (the TCP MSS) */
            uint8_t type;  /* XEN_NETIF_GSO_TYPE_* */
            uint8_t pad;
            uint16_t features; /* none defined: 0 */
        } gso;
        struct {
            uint8_t addr[6]; /* a multicast Ethernet address */
        } mcast;
        uint16_t pad[3];
    } u;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct netif_extra_info) == 8, "layout");

struct netif_tx_response {
    uint16_t id;
    int16_t status; /* XEN_NETIF_RSP_* */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct netif_tx_response) == 4, "layout");

struct netif_rx_request {
    uint16_t id; /* echoed in the response */
    uint16_t _pad;
    grant_ref_t gref; /* an empty page for the backend to fill */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct netif_rx_request) == 8, "layout");

/* RX response flags. */
#define NETRXF_data_validated (1u << 0) /* the checksum is known to be good */
#define NETRXF_csum_blank (1u << 1)     /* the L4 checksum is not filled in */
#define NETRXF_more_data (1u << 2)      /* the packet continues in the next response */
#define NETRXF_extra_info (1u << 3)     /* extra-info slots follow this response */
#define NETRXF_gso_prefix (1u << 4)     /* this slot holds GSO information only */

struct netif_rx_response {
    uint16_t id;
    uint16_t offset; /* where in the page the data starts */
    uint16_t flags;  /* NETRXF_* */
    int16_t status;  /* > 0: bytes of data; otherwise XEN_NETIF_RSP_* */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct netif_rx_response) == 8, "layout");

#define XEN_NETIF_RSP_DROPPED (-2)
#define XEN_NETIF_RSP_ERROR (-1)
#define XEN_NETIF_RSP_OKAY 0
#define XEN_NETIF_RSP_NULL 1 /* the response of an extra-info slot */

/* Ring slots: requests and responses share them. */
union netif_tx_sring_entry {
    struct netif_tx_request req;
    struct netif_tx_response rsp;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(union netif_tx_sring_entry) == 12, "layout");

union netif_rx_sring_entry {
    struct netif_rx_request req;
    struct netif_rx_response rsp;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(union netif_rx_sring_entry) == 8, "layout");

#define NET_TX_RING_SIZE 256 /* ring_nr_entries(4096, 12) */
#define NET_RX_RING_SIZE 256 /* ring_nr_entries(4096, 8) */

#endif
