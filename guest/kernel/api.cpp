// The C API of guest.h, mapped onto the kernel's parts.
#include "boot_info.hpp"
#include "cmdline.hpp"
#include "console.hpp"
#include "events.hpp"
#include "hypercall.hpp"
#include "mm.hpp"
#include "percpu.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "shutdown.hpp"
#include "sync.hpp"
#include "time.hpp"

#include <domus/guest.h>
#include <stdlib.h>

using namespace domus::guest;

extern "C" {

domus_thread_t* domus_thread_create(domus_thread_fn fn, void* arg, const domus_thread_attr_t* attr)
{
    return fn ? thread_create(fn, arg, attr) : nullptr;
}
int domus_thread_join(domus_thread_t* t) { return thread_join(t); }
domus_thread_t* domus_thread_self(void) { return current_thread(); }
const char* domus_thread_name(const domus_thread_t* t) { return t ? t->name : ""; }
void domus_thread_exit(void) { thread_exit(); }
void domus_yield(void) { yield(); }

unsigned domus_vcpu_count(void) { return __atomic_load_n(&nr_cpus_online, __ATOMIC_ACQUIRE); }
unsigned domus_vcpu_id(void) { return this_cpu()->id; }
uint64_t domus_vcpu_online_mask(void)
{
    return __atomic_load_n(&cpus_online_mask, __ATOMIC_ACQUIRE);
}
unsigned domus_vcpu_max(void) { return boot.nr_vcpus; }

uint64_t domus_monotonic_ns(void) { return monotonic_ns(); }
uint64_t domus_wallclock_ns(void) { return wallclock_ns(); }
void domus_sleep_until(uint64_t deadline) { sleep_until(deadline); }
void domus_sleep_ns(uint64_t ns) { sleep_until(monotonic_ns() + ns); }
void domus_sleep_us(uint64_t us) { domus_sleep_ns(us * 1000); }
void domus_sleep_ms(uint64_t ms) { domus_sleep_ns(ms * 1000000); }

void domus_mutex_init(domus_mutex_t* m, int recursive)
{
    *m = domus_mutex_t {};
    m->recursive = recursive ? 1 : 0;
}
void domus_mutex_lock(domus_mutex_t* m) { mutex_lock(m); }
int domus_mutex_trylock(domus_mutex_t* m) { return mutex_trylock(m) ? 1 : 0; }
void domus_mutex_unlock(domus_mutex_t* m) { mutex_unlock(m); }
void domus_cond_init(domus_cond_t* c) { *c = domus_cond_t {}; }
void domus_cond_wait(domus_cond_t* c, domus_mutex_t* m) { cond_wait(c, m); }
int domus_cond_wait_until(domus_cond_t* c, domus_mutex_t* m, uint64_t deadline_ns)
{
    return cond_wait_until(c, m, deadline_ns) ? 1 : 0;
}
void domus_cond_signal(domus_cond_t* c) { cond_signal(c); }
void domus_cond_broadcast(domus_cond_t* c) { cond_broadcast(c); }
void domus_sem_init(domus_sem_t* s, int64_t count)
{
    *s = domus_sem_t {};
    s->count = count;
}
void domus_sem_down(domus_sem_t* s) { sem_down(s); }
int domus_sem_down_until(domus_sem_t* s, uint64_t deadline_ns)
{
    return sem_down_until(s, deadline_ns) ? 1 : 0;
}
int domus_sem_trydown(domus_sem_t* s) { return sem_trydown(s) ? 1 : 0; }
void domus_sem_up(domus_sem_t* s) { sem_up(s); }

int domus_evtchn_bind_ipi(unsigned vcpu, evtchn_port_t* port)
{
    return domus::guest::evtchn_bind_ipi(vcpu, port);
}
int domus_evtchn_bind_virq(unsigned virq, unsigned vcpu, evtchn_port_t* port)
{
    return domus::guest::evtchn_bind_virq(virq, vcpu, port);
}
int domus_evtchn_alloc_unbound(domid_t remote, evtchn_port_t* port)
{
    return domus::guest::evtchn_alloc_unbound(remote, port);
}
int domus_evtchn_close(evtchn_port_t port) { return domus::guest::evtchn_close(port); }
void domus_evtchn_set_handler(evtchn_port_t port, domus_event_handler handler, void* data)
{
    evtchn_set_handler(port, handler, data);
}
void domus_evtchn_mask(evtchn_port_t port) { evtchn_mask(port); }
void domus_evtchn_unmask(evtchn_port_t port) { domus::guest::evtchn_unmask(port); }
int domus_evtchn_notify(evtchn_port_t port) { return evtchn_notify(port); }

void domus_console_write(const char* buf, size_t len) { console_write(buf, len); }
const char* domus_cmdline(void) { return cmdline(); }
const char* domus_cmdline_get(const char* key, char* buf, size_t size)
{
    return cmdline_get(key, buf, size);
}
uint64_t domus_cmdline_u64(const char* key, uint64_t fallback)
{
    char buf[32];
    if (!cmdline_get(key, buf, sizeof buf))
        return fallback;
    return strtoull(buf, nullptr, 0);
}

void domus_poweroff(int code) { poweroff(code); }
void domus_reboot(void) { reboot(); }
void domus_panic(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vpanic(fmt, ap);
}
int domus_printk(const char* fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vprintk(fmt, ap);
    va_end(ap);
    return n;
}

long domus_hypercall(unsigned nr, unsigned long a1, unsigned long a2, unsigned long a3,
    unsigned long a4, unsigned long a5)
{
    if (nr >= sizeof hypercall_page / DOMUS_HYPERCALL_STUB_SIZE)
        return -XEN_ENOSYS;
    return hypercall_raw(nr, a1, a2, a3, a4, a5);
}

uint64_t domus_heap_start(void) { return boot.heap_start; }
uint64_t domus_heap_end(void) { return boot.heap_end; }
uint64_t domus_memory_bytes(void) { return boot.nr_pages * XEN_PAGE_SIZE; }
uint64_t domus_free_pages(void) { return pages_free(); }

} // extern "C"

// For the C library glue (libc/syscalls.c).
extern "C" void* domus_heap_sbrk(intptr_t increment) { return heap_sbrk(increment); }
extern "C" size_t domus_console_read(char* buf, size_t len) { return console_read(buf, len); }
