/* Domus guest ABI: the XenStore wire protocol and the xenstore ring page, after
 * xen/include/public/io/xs_wire.h (written from the public facts, not copied).
 * Every message, in either direction, is a struct xsd_sockmsg followed by `len`
 * payload bytes; guests carry the same bytes over the ring page below. */
#ifndef DOMUS_ABI_XS_WIRE_H
#define DOMUS_ABI_XS_WIRE_H

#include "xen.h"

/* Message types. "P": only privileged connections (dom0, the socket); others get EACCES. */
enum xsd_sockmsg_type {
    XS_CONTROL = 0,               /* P: cmd\0[arg\0...] (optional; Domus: ENOSYS) */
    XS_DIRECTORY = 1,             /* path\0 -> child\0... */
    XS_READ = 2,                  /* path\0 -> raw value bytes (no NUL added) */
    XS_GET_PERMS = 3,             /* path\0 -> perm\0... */
    XS_WATCH = 4,                 /* wpath\0token\0 -> OK\0, then one WATCH_EVENT */
    XS_UNWATCH = 5,               /* wpath\0token\0 -> OK\0 */
    XS_TRANSACTION_START = 6,     /* \0 -> id\0 (header tx_id must be 0) */
    XS_TRANSACTION_END = 7,       /* T\0 commit or F\0 abort -> OK\0; EAGAIN on conflict */
    XS_INTRODUCE = 8,             /* P: domid\0gfn\0evtchn\0 -> OK\0 */
    XS_RELEASE = 9,               /* P: domid\0 -> OK\0 */
    XS_GET_DOMAIN_PATH = 10,      /* domid\0 -> /local/domain/<domid>\0 */
    XS_WRITE = 11,                /* path\0 value bytes -> OK\0 */
    XS_MKDIR = 12,                /* path\0 -> OK\0 */
    XS_RM = 13,                   /* path\0 -> OK\0 */
    XS_SET_PERMS = 14,            /* path\0perm\0... -> OK\0 */
    XS_WATCH_EVENT = 15,          /* server only: epath\0token\0, req_id = tx_id = 0 */
    XS_ERROR = 16,                /* server only: ENAME\0 */
    XS_IS_DOMAIN_INTRODUCED = 17, /* P: domid\0 -> T\0 or F\0 */
    XS_RESUME = 18,               /* P: domid\0 -> OK\0 */
    XS_SET_TARGET = 19,           /* P: domid\0target\0 -> OK\0 */
    /* 20 was XS_RESTRICT; removed, now an invalid type. */
    XS_RESET_WATCHES = 21,  /* \0 -> OK\0 */
    XS_DIRECTORY_PART = 22, /* path\0offset\0 -> gen\0child\0...[\0] */
    XS_GET_FEATURE = 23,    /* optional (Xen 4.21+); Domus: ENOSYS */
    XS_SET_FEATURE = 24,    /* optional (Xen 4.21+); Domus: ENOSYS */
    XS_GET_QUOTA = 25,      /* optional (Xen 4.21+); Domus: ENOSYS */
    XS_SET_QUOTA = 26,      /* optional (Xen 4.21+); Domus: ENOSYS */
    XS_TYPE_COUNT = 27,     /* number of type slots */
    XS_INVALID = 0xffff     /* never a valid type */
};
#define XS_DEBUG XS_CONTROL /* old name of type 0 */

/* Error replies carry the errno *name*, NUL-terminated, as payload of an XS_ERROR
 * message. XSD_ERRORS(X) expands X(name, errno) for each name, in Xen's order; the
 * numbers are Linux's (= Xen's public/errno.h). Clients map unknown names to EINVAL. */
#define XSD_ERRORS(X) \
    X(EINVAL, 22)     \
    X(EACCES, 13)     \
    X(EEXIST, 17)     \
    X(EISDIR, 21)     \
    X(ENOENT, 2)      \
    X(ENOMEM, 12)     \
    X(ENOSPC, 28)     \
    X(EIO, 5)         \
    X(ENOTEMPTY, 39)  \
    X(ENOSYS, 38)     \
    X(EROFS, 30)      \
    X(EBUSY, 16)      \
    X(EAGAIN, 11)     \
    X(EISCONN, 106)   \
    X(E2BIG, 7)       \
    X(EPERM, 1)
#define XSD_ERROR_COUNT 16

/* Header of every message; all fields little-endian (host order on x86). */
struct xsd_sockmsg {
    uint32_t type;   /* enum xsd_sockmsg_type; a reply copies the request's (or XS_ERROR) */
    uint32_t req_id; /* chosen by the client, echoed; not necessarily unique (libxenstore: 0) */
    uint32_t tx_id;  /* transaction id, 0 = none; echoed */
    uint32_t len;    /* payload bytes that follow, at most XENSTORE_PAYLOAD_MAX */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct xsd_sockmsg) == 16, "xsd_sockmsg layout");

/* A payload over this closes the connection (request) or becomes E2BIG (reply). */
#define XENSTORE_PAYLOAD_MAX 4096
/* Longest absolute path; relative paths should stay within the second limit
 * (counted after the /local/domain/<id>/ prefix). */
#define XENSTORE_ABS_PATH_MAX 3072
#define XENSTORE_REL_PATH_MAX 2048

/* The xenstore ring page: start_info.store_mfn / store_evtchn for PV guests. Two byte
 * streams with free-running u32 indices; a byte at stream position x lives at
 * index x & (XENSTORE_RING_SIZE - 1). In flight never exceeds XENSTORE_RING_SIZE.
 * Writer: read the peer's cons, read barrier (cons before the free-space check), copy
 * in, write barrier (data before prod), publish prod, notify. Reader: read prod, read
 * barrier (prod before data), copy out, full barrier (data read before cons is
 * published), publish cons, notify. Messages may be split across updates. */
#define XENSTORE_RING_SIZE 1024
typedef uint32_t XENSTORE_RING_IDX;
#define MASK_XENSTORE_IDX(idx) ((idx) & (XENSTORE_RING_SIZE - 1))

struct xenstore_domain_interface {
    char req[XENSTORE_RING_SIZE]; /* guest -> server requests */
    char rsp[XENSTORE_RING_SIZE]; /* server -> guest replies and watch events */
    XENSTORE_RING_IDX req_cons;   /* written by the server */
    XENSTORE_RING_IDX req_prod;   /* written by the guest */
    XENSTORE_RING_IDX rsp_cons;   /* written by the guest */
    XENSTORE_RING_IDX rsp_prod;   /* written by the server */
    uint32_t server_features;     /* XENSTORE_SERVER_FEATURE_*; server writes, bits only added */
    uint32_t connection;          /* XENSTORE_CONNECTED / XENSTORE_RECONNECT */
    uint32_t error;               /* XENSTORE_ERROR_*; server writes */
    uint32_t evtchn_port;         /* Xen 4.21+: nonzero = port to signal; else INTRODUCE's */
};
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, rsp) == 1024,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, req_cons) == 2048,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, req_prod) == 2052,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, rsp_cons) == 2056,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, rsp_prod) == 2060,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, server_features) ==
                            2064,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, connection) == 2068,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, error) == 2072,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct xenstore_domain_interface, evtchn_port) == 2076,
                        "xenstore ring layout");
DOMUS_ABI_STATIC_ASSERT(sizeof(struct xenstore_domain_interface) == 2080, "xenstore ring layout");

/* server_features bits. Advertise only what is implemented. */
#define XENSTORE_SERVER_FEATURE_RECONNECTION 1 /* `connection` handshake supported */
#define XENSTORE_SERVER_FEATURE_ERROR 2        /* `error` field maintained (4.17+) */
#define XENSTORE_SERVER_FEATURE_WATCHDEPTH 4   /* WATCH takes a depth argument (4.22+) */
#define XENSTORE_SERVER_FEATURE_DOMID_ANY 8    /* DOMID_ANY in node permissions (4.22+) */

/* `connection` values: only the guest sets RECONNECT, only the server sets CONNECTED. */
#define XENSTORE_CONNECTED 0
#define XENSTORE_RECONNECT 1

/* `error` values: nonzero means the server stopped serving this connection. */
#define XENSTORE_ERROR_NONE 0
#define XENSTORE_ERROR_COMM 1    /* communication problem (event channel) */
#define XENSTORE_ERROR_RINGIDX 2 /* bad ring index */
#define XENSTORE_ERROR_PROTO 3   /* protocol violation (payload too long) */

#endif
