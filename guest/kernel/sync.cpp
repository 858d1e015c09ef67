// Mutex, condition variable and semaphore (see sync.hpp). Mutex state: 0 free, 1 held,
// 2 held and maybe waited for; only the last one sends unlock down the slow path.
#include "sync.hpp"

#include "percpu.hpp"
#include "sched.hpp"

namespace domus::guest {

namespace {

    bool cas(uint32_t* p, uint32_t expected, uint32_t desired)
    {
        return __atomic_compare_exchange_n(
            p, &expected, desired, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED);
    }

    // Releases m, handing it to its first waiter if there is one. Scheduler lock held.
    void unlock_slow_locked(domus_mutex_t* m)
    {
        domus_thread* next = waitq_pop(&m->waiters);
        if (!next) {
            __atomic_store_n(&m->owner, nullptr, __ATOMIC_RELAXED);
            __atomic_store_n(&m->state, 0u, __ATOMIC_RELEASE);
            return;
        }
        __atomic_store_n(&m->owner, next, __ATOMIC_RELAXED);
        __atomic_store_n(&m->state, m->waiters.head ? 2u : 1u, __ATOMIC_RELEASE);
        make_runnable_locked(next);
    }

    void release(domus_mutex_t* m)
    {
        __atomic_store_n(&m->owner, nullptr, __ATOMIC_RELAXED);
        uint32_t expected = 1;
        if (__atomic_compare_exchange_n(
                &m->state, &expected, 0u, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return;
        uint8_t flags = sched_lock();
        unlock_slow_locked(m);
        sched_unlock(flags);
    }

} // namespace

void mutex_lock(domus_mutex_t* m)
{
    domus_thread* self = current_thread();
    if (m->recursive && __atomic_load_n(&m->owner, __ATOMIC_RELAXED) == self) {
        ++m->recursion;
        return;
    }
    if (cas(&m->state, 0, 1)) {
        __atomic_store_n(&m->owner, self, __ATOMIC_RELAXED);
        return;
    }
    uint8_t flags = sched_lock();
    for (;;) {
        uint32_t s = __atomic_load_n(&m->state, __ATOMIC_RELAXED);
        if (s == 0) {
            if (!cas(&m->state, 0, 1))
                continue;
            __atomic_store_n(&m->owner, self, __ATOMIC_RELAXED);
            break;
        }
        if (s == 1 && !cas(&m->state, 1, 2))
            continue;
        block_current_locked(&m->waiters);
        break; // handed over by the unlocker: m->owner == self
    }
    sched_unlock(flags);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
}

bool mutex_trylock(domus_mutex_t* m)
{
    domus_thread* self = current_thread();
    if (m->recursive && __atomic_load_n(&m->owner, __ATOMIC_RELAXED) == self) {
        ++m->recursion;
        return true;
    }
    if (!cas(&m->state, 0, 1))
        return false;
    __atomic_store_n(&m->owner, self, __ATOMIC_RELAXED);
    return true;
}

void mutex_unlock(domus_mutex_t* m)
{
    if (m->recursive && m->recursion) {
        --m->recursion;
        return;
    }
    release(m);
}

void cond_wait(domus_cond_t* c, domus_mutex_t* m)
{
    uint32_t recursion = m->recursion;
    m->recursion = 0;
    uint8_t flags = sched_lock();
    domus_thread* self = this_cpu()->current;
    waitq_push(&c->waiters, self);
    self->state = kThreadBlocked;
    // Release m under the scheduler lock: a signal needs that lock, so it cannot slip
    // in between the release and the switch.
    __atomic_store_n(&m->owner, nullptr, __ATOMIC_RELAXED);
    uint32_t held = 1;
    if (!__atomic_compare_exchange_n(
            &m->state, &held, 0u, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        unlock_slow_locked(m);
    schedule_locked();
    sched_unlock(flags);
    mutex_lock(m);
    m->recursion = recursion;
}

bool cond_wait_until(domus_cond_t* c, domus_mutex_t* m, uint64_t deadline)
{
    uint32_t recursion = m->recursion;
    m->recursion = 0;
    uint8_t flags = sched_lock();
    // As cond_wait: m is released under the scheduler lock, after we are queued.
    __atomic_store_n(&m->owner, nullptr, __ATOMIC_RELAXED);
    uint32_t held = 1;
    if (!__atomic_compare_exchange_n(
            &m->state, &held, 0u, false, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
        unlock_slow_locked(m);
    bool signalled = block_current_until_locked(&c->waiters, deadline);
    sched_unlock(flags);
    mutex_lock(m);
    m->recursion = recursion;
    return signalled;
}

void cond_signal(domus_cond_t* c)
{
    uint8_t flags = sched_lock();
    if (domus_thread* t = waitq_pop(&c->waiters))
        make_runnable_locked(t);
    sched_unlock(flags);
}

void cond_broadcast(domus_cond_t* c) { waitq_wake_all(&c->waiters); }

void sem_down(domus_sem_t* s)
{
    uint8_t flags = sched_lock();
    if (s->count > 0)
        --s->count;
    else
        block_current_locked(&s->waiters); // sem_up hands its unit over
    sched_unlock(flags);
}

bool sem_down_until(domus_sem_t* s, uint64_t deadline)
{
    uint8_t flags = sched_lock();
    bool got = true;
    if (s->count > 0)
        --s->count;
    else
        got = block_current_until_locked(&s->waiters, deadline); // woken = handed a unit
    sched_unlock(flags);
    return got;
}

bool sem_trydown(domus_sem_t* s)
{
    uint8_t flags = sched_lock();
    bool got = s->count > 0;
    if (got)
        --s->count;
    sched_unlock(flags);
    return got;
}

void sem_up(domus_sem_t* s)
{
    uint8_t flags = sched_lock();
    if (domus_thread* t = waitq_pop(&s->waiters))
        make_runnable_locked(t);
    else
        ++s->count;
    sched_unlock(flags);
}

} // namespace domus::guest
