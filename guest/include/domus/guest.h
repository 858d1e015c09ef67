/* Domus guest kernel: the C API for applications (C and C++).
 *
 * An application provides main(argc, argv); the kernel starts it in a thread, and its
 * return value (or exit(n)) powers the domain off with that exit code. Threads run on
 * every vCPU and are preempted every DOMUS_TIME_SLICE_NS by timer upcalls.
 *
 * Contexts: "thread" functions may block and must be called from a thread. Functions
 * marked "upcall-safe" may also be called from an event handler, which runs in upcall
 * context on the vCPU the port is bound to, with upcalls masked: handlers must be
 * short and must not block, allocate memory or use stdio.
 *
 * The XenStore client has its own header, <domus/xenbus.h>. */
#ifndef DOMUS_GUEST_H
#define DOMUS_GUEST_H

#include <stddef.h>
#include <stdint.h>

#include <domus/abi/xen.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DOMUS_TIME_SLICE_NS 10000000ull /* 10 ms */

/* ---- threads ---------------------------------------------------------------- */

typedef struct domus_thread domus_thread_t;
typedef void (*domus_thread_fn)(void* arg);

#define DOMUS_ANY_VCPU (-1)
#define DOMUS_DEFAULT_STACK_SIZE (128u * 1024u)

typedef struct domus_thread_attr {
    const char* name; /* copied; NULL = "thread" */
    size_t stack_size; /* 0 = DOMUS_DEFAULT_STACK_SIZE */
    int vcpu; /* DOMUS_ANY_VCPU, or the only vCPU the thread may run on */
    int detached; /* nonzero: freed on exit, cannot be joined */
} domus_thread_attr_t;

/* Starts fn(arg) in a new thread. attr may be NULL. Returns NULL without memory. */
domus_thread_t* domus_thread_create(domus_thread_fn fn, void* arg, const domus_thread_attr_t* attr);
/* Waits for a joinable thread to end and frees it. Returns 0, or -1 if detached/self. */
int domus_thread_join(domus_thread_t* thread);
domus_thread_t* domus_thread_self(void);
const char* domus_thread_name(const domus_thread_t* thread);
void domus_thread_exit(void) __attribute__((noreturn));
/* Gives the vCPU to another runnable thread, if any. */
void domus_yield(void);

/* ---- vCPUs -------------------------------------------------------------------- */

unsigned domus_vcpu_count(void); /* vCPUs online (upcall-safe) */
/* Bit n set: vCPU n is online now (upcall-safe). vCPUs come and go with the toolstack's
 * `vcpu-set` (cpu/<n>/availability); a thread bound to a vCPU that goes offline becomes
 * unbound (DOMUS_ANY_VCPU), as Linux breaks the affinity of a task whose CPU goes away. */
uint64_t domus_vcpu_online_mask(void);
unsigned domus_vcpu_max(void); /* vCPUs the domain may have online (maxvcpus) */
unsigned domus_vcpu_id(void); /* the vCPU running the caller now (upcall-safe) */

/* ---- time --------------------------------------------------------------------- */

uint64_t domus_monotonic_ns(void); /* ns since the domain started (upcall-safe) */
uint64_t domus_wallclock_ns(void); /* ns since 1970 (upcall-safe) */
void domus_sleep_until(uint64_t monotonic_ns);
void domus_sleep_ns(uint64_t ns);
void domus_sleep_us(uint64_t us);
void domus_sleep_ms(uint64_t ms);

/* ---- synchronisation -------------------------------------------------------------
 * Static initialisers are all-zero. Blocking is FIFO; unlock hands the mutex (and up
 * hands the unit) to the first waiter. */

struct domus_waitq {
    domus_thread_t *head, *tail;
};

typedef struct domus_mutex {
    uint32_t state; /* 0 free, 1 held, 2 held with waiters */
    uint32_t recursion; /* for recursive mutexes: extra acquisitions */
    domus_thread_t* owner;
    struct domus_waitq waiters;
    uint32_t recursive;
    uint32_t _pad;
} domus_mutex_t;
#define DOMUS_MUTEX_INIT                                                                           \
    {                                                                                              \
        0, 0, 0, { 0, 0 }, 0, 0                                                                    \
    }
#define DOMUS_RECURSIVE_MUTEX_INIT                                                                 \
    {                                                                                              \
        0, 0, 0, { 0, 0 }, 1, 0                                                                    \
    }

void domus_mutex_init(domus_mutex_t* m, int recursive);
void domus_mutex_lock(domus_mutex_t* m);
int domus_mutex_trylock(domus_mutex_t* m); /* 1 = acquired */
void domus_mutex_unlock(domus_mutex_t* m);

typedef struct domus_cond {
    struct domus_waitq waiters;
} domus_cond_t;
#define DOMUS_COND_INIT                                                                            \
    {                                                                                              \
        {                                                                                          \
            0, 0                                                                                   \
        }                                                                                          \
    }

void domus_cond_init(domus_cond_t* c);
void domus_cond_wait(domus_cond_t* c, domus_mutex_t* m);
/* As domus_cond_wait, giving up at a monotonic deadline (domus_monotonic_ns): 1 when
 * signalled, 0 when the deadline passed first. m is held again either way. */
int domus_cond_wait_until(domus_cond_t* c, domus_mutex_t* m, uint64_t deadline_ns);
void domus_cond_signal(domus_cond_t* c); /* upcall-safe */
void domus_cond_broadcast(domus_cond_t* c); /* upcall-safe */

typedef struct domus_sem {
    int64_t count;
    struct domus_waitq waiters;
} domus_sem_t;
#define DOMUS_SEM_INIT(n)                                                                          \
    {                                                                                              \
        (n), { 0, 0 }                                                                              \
    }

void domus_sem_init(domus_sem_t* s, int64_t count);
void domus_sem_down(domus_sem_t* s);
/* As domus_sem_down, giving up at a monotonic deadline: 1 = got a unit, 0 = timed out. */
int domus_sem_down_until(domus_sem_t* s, uint64_t deadline_ns);
int domus_sem_trydown(domus_sem_t* s); /* 1 = got a unit (upcall-safe) */
void domus_sem_up(domus_sem_t* s); /* upcall-safe */

/* ---- event channels ---------------------------------------------------------------
 * Ports come back masked-off (deliverable) with no handler; set one before use.
 * Results are 0 or a negative Xen errno. */

typedef void (*domus_event_handler)(evtchn_port_t port, void* data);

int domus_evtchn_bind_ipi(unsigned vcpu, evtchn_port_t* port);
int domus_evtchn_bind_virq(unsigned virq, unsigned vcpu, evtchn_port_t* port);
int domus_evtchn_alloc_unbound(domid_t remote, evtchn_port_t* port);
int domus_evtchn_close(evtchn_port_t port);
void domus_evtchn_set_handler(evtchn_port_t port, domus_event_handler handler, void* data);
void domus_evtchn_mask(evtchn_port_t port); /* upcall-safe */
void domus_evtchn_unmask(evtchn_port_t port); /* upcall-safe */
int domus_evtchn_notify(evtchn_port_t port); /* doorbell; upcall-safe */

/* ---- console, command line, power ---------------------------------------------- */

void domus_console_write(const char* buf, size_t len); /* one notify per call */
/* Blocks until console input arrives; returns 1..len bytes (0 without a console ring). */
size_t domus_console_read(char* buf, size_t len);
const char* domus_cmdline(void);
/* Value of key=value in the command line, or NULL; copies at most size-1 chars. */
const char* domus_cmdline_get(const char* key, char* buf, size_t size);
/* The number in key=N of the command line (decimal, 0x hex or 0 octal), or `fallback`. */
uint64_t domus_cmdline_u64(const char* key, uint64_t fallback);

void domus_poweroff(int code) __attribute__((noreturn));
void domus_reboot(void) __attribute__((noreturn));
void domus_panic(const char* fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
int domus_printk(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

/* Raw hypercall, for tests: nr indexes the hypercall page (0..127). */
long domus_hypercall(unsigned nr, unsigned long a1, unsigned long a2, unsigned long a3,
    unsigned long a4, unsigned long a5);

/* Where the boot's time went, as TSC readings (the host's TSC: no offset on this KVM):
 * the kernel's first C instruction, the kernel's set-up done (main's thread created),
 * and that thread about to call main() after the vCPU and balloon start-up. */
struct domus_boot_marks {
    uint64_t kernel_entry_tsc;
    uint64_t kernel_ready_tsc;
    uint64_t main_call_tsc;
};
void domus_get_boot_marks(struct domus_boot_marks* marks);

/* Guest memory as the kernel sees it. */
uint64_t domus_heap_start(void);
uint64_t domus_heap_end(void);
uint64_t domus_memory_bytes(void);
uint64_t domus_free_pages(void); /* 4 KiB pages the kernel's page allocator has left */
/* The balloon driver (memory/target): the domain's reservation, the last target read
 * (0: none) and what the balloon holds, in KiB. Any pointer may be NULL. */
void domus_balloon_stats(uint64_t* current_kib, uint64_t* target_kib, uint64_t* ballooned_kib);

#ifdef __cplusplus
}
#endif

#endif
