// Per-vCPU timers: sleepers sorted by deadline, the one-shot set_timer_op deadline, and
// the time slice. A vCPU's sleepers list and timer state are touched only by that vCPU
// with upcalls masked; thread state changes still go through the scheduler lock.
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

    void on_timer(evtchn_port_t, void*)
    {
        Cpu* c = this_cpu();
        c->timer_programmed = 0; // one-shot: it fired (or was spurious; re-arming is cheap)
        uint64_t now = monotonic_ns();
        uint8_t flags = sched_lock();
        while (c->sleepers && c->sleepers->wake_at <= now + kTimerSlackNs) {
            domus_thread* t = c->sleepers;
            c->sleepers = t->next;
            make_runnable_locked(t);
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

void timer_reprogram(Cpu* c)
{
    uint64_t want = ~0ull;
    if (c->sleepers)
        want = c->sleepers->wake_at;
    if (!c->current->idle && c->slice_end < want)
        want = c->slice_end;
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
        domus_thread** link = &c->sleepers;
        while (*link && (*link)->wake_at <= deadline)
            link = &(*link)->next;
        self->next = *link;
        *link = self;
        self->state = kThreadBlocked;
        if (!c->timer_programmed || deadline < c->timer_programmed)
            c->timer_dirty = true;
        schedule_locked();
        sched_unlock(flags);
        // wake_at 0: its vCPU went offline and woke it early; sleep again on this one.
        if (self->wake_at)
            return;
    }
}

} // namespace domus::guest
