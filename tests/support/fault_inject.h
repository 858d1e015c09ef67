/* Fault-injection shim (LD_PRELOAD, or linked into a test): the layout of its shared
 * counters and its control entry points. The shim itself is fault_inject.cpp. */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Counter indices in the counters file (DOMUS_FAULTS_COUNTERS): an array of uint64_t,
 * updated atomically by every process the shim is active in, so it survives SIGKILL and
 * adds up over many monitors. Calls count every intercepted call, faults what was done
 * to them. */
enum domus_fault_counter {
    DOMUS_CALLS_PREAD,      /* pread, pread64 */
    DOMUS_CALLS_PWRITE,     /* pwrite, pwrite64 */
    DOMUS_CALLS_PREADV,     /* preadv, preadv2 */
    DOMUS_CALLS_PWRITEV,    /* pwritev, pwritev2 */
    DOMUS_CALLS_FDATASYNC,  /* fdatasync, fsync */
    DOMUS_CALLS_URING_INIT, /* io_uring_queue_init */
    DOMUS_CALLS_URING_SUBMIT,
    DOMUS_CALLS_URING_SQES,    /* SQEs seen by io_uring_submit */
    DOMUS_FAULT_SHORT,         /* pread/pwrite family moved less than asked */
    DOMUS_FAULT_EAGAIN,        /* ... failed with EAGAIN, nothing moved */
    DOMUS_FAULT_EINTR,         /* ... or fdatasync failed with EINTR */
    DOMUS_FAULT_NO_URING,      /* io_uring_queue_init failed (ENOSYS or EPERM) */
    DOMUS_FAULT_URING_SHORT,   /* readv/writev SQE cut to fewer iovecs or bytes */
    DOMUS_FAULT_URING_EAGAIN,  /* SQE replaced by a NOP completing with -EAGAIN */
    DOMUS_FAULT_URING_EINTR,   /* ... with -EINTR */
    DOMUS_FAULT_SUBMIT_EAGAIN, /* io_uring_submit returned -EAGAIN, submitting nothing */
    DOMUS_FAULT_COUNTERS
};

/* Names for reports, indexed like domus_fault_counter. */
static const char* const domus_fault_counter_names[DOMUS_FAULT_COUNTERS] = {
    "calls.pread",       "calls.pwrite",       "calls.preadv",       "calls.pwritev",
    "calls.fdatasync",   "calls.uring_init",   "calls.uring_submit", "calls.uring_sqes",
    "fault.short",       "fault.eagain",       "fault.eintr",        "fault.no_uring",
    "fault.uring_short", "fault.uring_eagain", "fault.uring_eintr",  "fault.submit_eagain"};

/* Replaces the configuration (the DOMUS_FAULTS syntax, see fault_inject.cpp) in this
 * process and makes the shim active here whatever the process name; NULL or "" turns
 * every fault off. For tests that link the shim directly. */
void domus_faults_configure(const char* spec);

/* This process's counters since it started (or since domus_faults_configure). */
uint64_t domus_faults_count(enum domus_fault_counter counter);

#ifdef __cplusplus
}
#endif
