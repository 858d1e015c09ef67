/* Domus guest ABI: event channels, event_channel_op(cmd, arg) (hypercall 32).
 * Layouts and semantics follow xen/include/public/event_channel.h; 2-level ABI only. */
#ifndef DOMUS_ABI_EVENT_CHANNEL_H
#define DOMUS_ABI_EVENT_CHANNEL_H

#include "xen.h"

#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq 1
#define EVTCHNOP_close 3
#define EVTCHNOP_send 4
#define EVTCHNOP_status 5
#define EVTCHNOP_alloc_unbound 6
#define EVTCHNOP_bind_ipi 7
#define EVTCHNOP_bind_vcpu 8
#define EVTCHNOP_unmask 9

/* Port 0 is never handed out. Domus domains have DOMUS_NR_EVENT_CHANNELS ports. */
#define DOMUS_NR_EVENT_CHANNELS 1024

struct evtchn_alloc_unbound {
    domid_t dom;        /* in: DOMID_SELF (or own id) */
    domid_t remote_dom; /* in: who may bind; the monitor's backends are domain 0 */
    evtchn_port_t port; /* out */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct evtchn_alloc_unbound) == 8, "layout");

struct evtchn_bind_interdomain {
    domid_t remote_dom;
    uint16_t _pad;
    evtchn_port_t remote_port;
    evtchn_port_t local_port; /* out */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct evtchn_bind_interdomain) == 12, "layout");

/* VIRQs: per-vCPU ones (TIMER, DEBUG) bind once per vCPU; global ones on any vCPU. */
#define VIRQ_TIMER 0
#define VIRQ_DEBUG 1
#define VIRQ_CONSOLE 2
#define VIRQ_DOM_EXC 3
#define NR_VIRQS 24

struct evtchn_bind_virq {
    uint32_t virq;
    uint32_t vcpu;
    evtchn_port_t port; /* out */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct evtchn_bind_virq) == 12, "layout");

struct evtchn_bind_ipi {
    uint32_t vcpu;
    evtchn_port_t port; /* out */
};

struct evtchn_close {
    evtchn_port_t port;
};

struct evtchn_send {
    evtchn_port_t port;
};

struct evtchn_unmask {
    evtchn_port_t port;
};

struct evtchn_bind_vcpu {
    evtchn_port_t port;
    uint32_t vcpu;
};

#define EVTCHNSTAT_closed 0
#define EVTCHNSTAT_unbound 1
#define EVTCHNSTAT_interdomain 2
#define EVTCHNSTAT_pirq 3
#define EVTCHNSTAT_virq 4
#define EVTCHNSTAT_ipi 5

struct evtchn_status {
    domid_t dom; /* in */
    uint16_t _pad;
    evtchn_port_t port; /* in */
    uint32_t status;    /* out: EVTCHNSTAT_* */
    uint32_t vcpu;      /* out: the vCPU notified */
    union {
        struct {
            domid_t dom;
        } unbound;
        struct {
            domid_t dom;
            uint16_t _pad;
            evtchn_port_t port;
        } interdomain;
        uint32_t virq;
    } u;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct evtchn_status) == 24, "layout");

#endif
