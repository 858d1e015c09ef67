// Per-vCPU timers: sleepers sorted by deadline, the one-shot set_timer_op deadline, the
// time slice, and timed waits (a thread in a wait queue and a sleepers list at once,
// whichever wakes it first takes it out of the other). A vCPU's timer state is touched
// only by that vCPU with upcalls masked; its sleepers list also only under the
// scheduler lock, because a timed waiter woken on another vCPU leaves it from there.
#include "events.hpp"
#include "hypercall.hpp"
#include "percpu.hpp"
#include "sched.hpp"
#include "shutdown.hpp"
#include "time.hpp"

namespace domus::guest {

namespace {

    // Deadlines this close are treated as expired: cheaper than another timer round trip.
    constexpr uint64_t kTimerSlackNs = 20'000;

    void sleepers_insert_locked(Cpu* c, domus_thread* t)
    {
        domus_thread** link = &c->sleepers;
        while (*link && (*link)->wake_at <= t->wake_at)
            link = &(*link)->sleep_next;
        t->sleep_next = *link;
        *link = t;
        t->sleeping_on = c;
        if (!c->timer_programmed || t->wake_at < c->timer_programmed)
            c->timer_dirty = true;
    }

    void sleepers_remove_locked(domus_thread* t)
    {
        Cpu* c = t->sleeping_on;
        if (!c)
            return;
        for (domus_thread** link = &c->sleepers; *link; link = &(*link)->sleep_next)
            if (*link == t) {
                *link = t->sleep_next;
                break;
            }
        t->sleep_next = nullptr;
        t->sleeping_on = nullptr;
    }

    // A sleeper whose deadline passed: a plain sleep ends; a timed wait still blocked in
    // its queue leaves it, timed out (one woken already is just no longer a sleeper).
    void expire_locked(domus_thread* t)
    {
        if (!t->timed_wait) {
            make_runnable_locked(t);
            return;
        }
        if (t->state == kThreadBlocked) {
            waitq_remove(t->timed_wait, t);
            t->timed_out = true;
            make_runnable_locked(t);
        }
    }

    void on_timer(evtchn_port_t, void*)
    {
        Cpu* c = this_cpu();
        c->timer_programmed = 0; // one-shot: it fired (or was spurious; re-arming is cheap)
        uint64_t now = monotonic_ns();
        uint8_t flags = sched_lock();
        while (c->sleepers && c->sleepers->wake_at <= now + kTimerSlackNs) {
            domus_thread* t = c->sleepers;
            c->sleepers = t->sleep_next;
            t->sleep_next = nullptr;
            t->sleeping_on = nullptr;
            expire_locked(t);
        }
        if (!c->current->idle && now + kTimerSlackNs >= c->slice_end) {
            c->need_resched = true; // schedule_locked keeps the thread if nobody else may run
            c->slice_end = now + kTimeSliceNs;
        }
        c->timer_dirty = true;
        sched_unlock(flags);
    }

} // namespace

void init_cpu_timer(Cpu* cpu)
{
    int rc = evtchn_bind_virq(VIRQ_TIMER, cpu->id, &cpu->timer_port);
    if (rc < 0)
        panic("bind VIRQ_TIMER on vCPU %u failed: %d", cpu->id, rc);
    evtchn_set_handler(cpu->timer_port, on_timer, nullptr);
    evtchn_unmask(cpu->timer_port);
}

uint64_t timer_wanted_locked(const Cpu* c)
{
    uint64_t want = ~0ull;
    if (c->sleepers)
        want = c->sleepers->wake_at;
    // A time slice ends only for someone waiting to run: a vCPU whose thread runs alone
    // has no timer for it (no VIRQ every slice, no set_timer_op at each switch), and a
    // thread made runnable later re-evaluates this (make_runnable_locked).
    if (!c->current->idle && c->slice_end < want && runq_has_work_for_locked(c->id))
        want = c->slice_end;
    return want;
}

void timer_program(Cpu* c, uint64_t want)
{
    if (want == ~0ull || (c->timer_programmed && c->timer_programmed <= want))
        return; // an earlier (or equal) deadline is armed; it re-evaluates when it fires
    c->timer_programmed = want;
    if (hyp_set_timer_op(want) < 0) {
        // A monitor that refuses deadlines in the past: ask for one just ahead.
        c->timer_programmed = monotonic_ns() + 50'000;
        hyp_set_timer_op(c->timer_programmed);
    }
}

void sleep_until(uint64_t deadline)
{
    for (;;) {
        if (deadline <= monotonic_ns())
            return;
        uint8_t flags = sched_lock();
        Cpu* c = this_cpu();
        domus_thread* self = c->current;
        if (self->idle)
            panic("idle thread of vCPU %u tried to sleep", c->id);
        self->wake_at = deadline;
        sleepers_insert_locked(c, self);
        self->state = kThreadBlocked;
        schedule_locked();
        sched_unlock(flags);
        // wake_at 0: its vCPU went offline and woke it early; sleep again on this one.
        if (self->wake_at)
            return;
    }
}

bool block_current_until_locked(domus_waitq* q, uint64_t deadline)
{
    Cpu* c = this_cpu();
    domus_thread* self = c->current;
    if (self->idle)
        panic("idle thread of vCPU %u tried to block", c->id);
    if (deadline <= monotonic_ns() + kTimerSlackNs)
        return false;
    waitq_push(q, self);
    self->wake_at = deadline;
    self->timed_wait = q;
    self->timed_out = false;
    sleepers_insert_locked(c, self);
    self->state = kThreadBlocked;
    schedule_locked();
    // Back, lock held: woken (still a sleeper somewhere) or timed out (no longer one).
    sleepers_remove_locked(self);
    self->timed_wait = nullptr;
    return !self->timed_out;
}

void sleepers_leave_locked(Cpu* c)
{
    // Plain sleepers wake early and sleep again wherever they run next (sleep_until);
    // timed waiters keep waiting, with vCPU 0 (never offline) now keeping their time.
    Cpu* keeper = cpus[0];
    while (domus_thread* t = c->sleepers) {
        c->sleepers = t->sleep_next;
        t->sleep_next = nullptr;
        t->sleeping_on = nullptr;
        if (t->timed_wait && t->state == kThreadBlocked && keeper != c) {
            sleepers_insert_locked(keeper, t);
            keeper->timer_dirty = true;
            c->kick_mask |= 1ull << keeper->id;
        } else if (t->timed_wait) {
            expire_locked(t);
        } else {
            t->wake_at = 0;
            make_runnable_locked(t);
        }
    }
}

} // namespace domus::guest
