/* lwIP's operating-system layer (sys_arch) on the Domus guest kernel: semaphores and
 * mutexes are the kernel's, timed waits use its monotonic deadlines, mailboxes are
 * bounded rings between two semaphores, and lightweight protection is one recursive
 * mutex (lwIP only runs in threads, never in event handlers). */
#include <lwip/err.h>
#include <lwip/sys.h>

#include <domus/guest.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct domus_mbox {
    domus_mutex_t lock; /* guards head and tail */
    domus_sem_t filled; /* messages waiting */
    domus_sem_t free; /* slots free */
    unsigned size, head, tail;
    void* slots[];
};

static domus_mutex_t protect_lock = DOMUS_RECURSIVE_MUTEX_INIT;

static uint64_t deadline_after_ms(u32_t timeout_ms)
{
    return domus_monotonic_ns() + (uint64_t)timeout_ms * 1000000u;
}

static u32_t ms_since(uint64_t start_ns)
{
    return (u32_t)((domus_monotonic_ns() - start_ns) / 1000000u);
}

void sys_init(void) { }

u32_t sys_now(void) { return (u32_t)(domus_monotonic_ns() / 1000000u); }

u32_t sys_jiffies(void) { return (u32_t)(domus_monotonic_ns() / 1000000u); }

sys_prot_t sys_arch_protect(void)
{
    domus_mutex_lock(&protect_lock);
    return 0;
}

void sys_arch_unprotect(sys_prot_t level)
{
    (void)level;
    domus_mutex_unlock(&protect_lock);
}

/* ---- semaphores ---- */

err_t sys_sem_new(sys_sem_t* sem, u8_t count)
{
    domus_sem_init(&sem->sem, count);
    sem->valid = 1;
    return ERR_OK;
}

void sys_sem_free(sys_sem_t* sem) { sem->valid = 0; }

void sys_sem_signal(sys_sem_t* sem) { domus_sem_up(&sem->sem); }

u32_t sys_arch_sem_wait(sys_sem_t* sem, u32_t timeout_ms)
{
    uint64_t start = domus_monotonic_ns();
    if (timeout_ms == 0) {
        domus_sem_down(&sem->sem);
        return ms_since(start);
    }
    if (!domus_sem_down_until(&sem->sem, deadline_after_ms(timeout_ms)))
        return SYS_ARCH_TIMEOUT;
    return ms_since(start);
}

/* ---- mutexes ---- */

err_t sys_mutex_new(sys_mutex_t* mutex)
{
    domus_mutex_init(&mutex->mutex, 0);
    mutex->valid = 1;
    return ERR_OK;
}

void sys_mutex_free(sys_mutex_t* mutex) { mutex->valid = 0; }
void sys_mutex_lock(sys_mutex_t* mutex) { domus_mutex_lock(&mutex->mutex); }
void sys_mutex_unlock(sys_mutex_t* mutex) { domus_mutex_unlock(&mutex->mutex); }

/* ---- mailboxes ---- */

err_t sys_mbox_new(sys_mbox_t* mbox, int size)
{
    if (size <= 0)
        size = 64;
    struct domus_mbox* m = malloc(sizeof *m + (size_t)size * sizeof(void*));
    if (!m)
        return ERR_MEM;
    memset(m, 0, sizeof *m);
    domus_mutex_init(&m->lock, 0);
    domus_sem_init(&m->filled, 0);
    domus_sem_init(&m->free, size);
    m->size = (unsigned)size;
    *mbox = m;
    return ERR_OK;
}

void sys_mbox_free(sys_mbox_t* mbox)
{
    free(*mbox);
    *mbox = NULL;
}

static void put(struct domus_mbox* m, void* msg)
{
    domus_mutex_lock(&m->lock);
    m->slots[m->tail] = msg;
    m->tail = (m->tail + 1) % m->size;
    domus_mutex_unlock(&m->lock);
    domus_sem_up(&m->filled);
}

static void* take(struct domus_mbox* m)
{
    domus_mutex_lock(&m->lock);
    void* msg = m->slots[m->head];
    m->head = (m->head + 1) % m->size;
    domus_mutex_unlock(&m->lock);
    domus_sem_up(&m->free);
    return msg;
}

void sys_mbox_post(sys_mbox_t* mbox, void* msg)
{
    domus_sem_down(&(*mbox)->free);
    put(*mbox, msg);
}

err_t sys_mbox_trypost(sys_mbox_t* mbox, void* msg)
{
    if (!domus_sem_trydown(&(*mbox)->free))
        return ERR_MEM;
    put(*mbox, msg);
    return ERR_OK;
}

err_t sys_mbox_trypost_fromisr(sys_mbox_t* mbox, void* msg) { return sys_mbox_trypost(mbox, msg); }

u32_t sys_arch_mbox_fetch(sys_mbox_t* mbox, void** msg, u32_t timeout_ms)
{
    uint64_t start = domus_monotonic_ns();
    if (timeout_ms == 0)
        domus_sem_down(&(*mbox)->filled);
    else if (!domus_sem_down_until(&(*mbox)->filled, deadline_after_ms(timeout_ms)))
        return SYS_ARCH_TIMEOUT;
    void* got = take(*mbox);
    if (msg)
        *msg = got;
    return ms_since(start);
}

u32_t sys_arch_mbox_tryfetch(sys_mbox_t* mbox, void** msg)
{
    if (!domus_sem_trydown(&(*mbox)->filled))
        return SYS_MBOX_EMPTY;
    void* got = take(*mbox);
    if (msg)
        *msg = got;
    return 0;
}

/* ---- threads ---- */

sys_thread_t sys_thread_new(const char* name, lwip_thread_fn fn, void* arg, int stacksize, int prio)
{
    (void)prio;
    domus_thread_attr_t attr = { 0 };
    attr.name = name;
    attr.stack_size = stacksize > 0 ? (size_t)stacksize : 0;
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    domus_thread_t* t = domus_thread_create(fn, arg, &attr);
    LWIP_ASSERT("sys_thread_new: no memory for a thread", t != NULL);
    return t;
}

unsigned domus_net_random(void)
{
    unsigned value;
    getentropy(&value, sizeof value);
    return value;
}
