/* Domus guest ABI: sched_op(cmd, arg) (hypercall 29), after xen/include/public/sched.h. */
#ifndef DOMUS_ABI_SCHED_H
#define DOMUS_ABI_SCHED_H

#include "xen.h"

#define SCHEDOP_yield 0
#define SCHEDOP_block 1         /* clears evtchn_upcall_mask, sleeps until an event is pending */
#define SCHEDOP_shutdown 2      /* struct sched_shutdown */
#define SCHEDOP_poll 3          /* struct sched_poll */
#define SCHEDOP_shutdown_code 5 /* struct sched_shutdown: reason kept for a later crash */
/* Domus: shut down with an exit code that `domus run` passes on as its status. */
#define SCHEDOP_domus_exit 64 /* struct domus_sched_exit */

#define SHUTDOWN_poweroff 0
#define SHUTDOWN_reboot 1
#define SHUTDOWN_suspend 2
#define SHUTDOWN_crash 3
#define SHUTDOWN_watchdog 4

struct sched_shutdown {
    uint32_t reason; /* SHUTDOWN_* */
};

struct domus_sched_exit {
    uint32_t reason; /* SHUTDOWN_poweroff, _reboot or _crash */
    uint32_t code;   /* poweroff: 0..199 are reported unchanged, larger values as 199 */
};

#define SCHED_POLL_MAX_PORTS 128
struct sched_poll {
    uint64_t ports;    /* guest address of evtchn_port_t[nr_ports] */
    uint32_t nr_ports; /* 1..SCHED_POLL_MAX_PORTS */
    uint32_t _pad;
    uint64_t timeout; /* absolute system time in ns; 0 = none */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct sched_poll) == 24, "sched_poll layout");

#endif
