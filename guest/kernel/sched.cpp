// Run queue, context switch decisions, idle loop and wake-up IPIs (see sched.hpp).
#include "sched.hpp"

#include "hypercall.hpp"
#include "percpu.hpp"
#include "shutdown.hpp"
#include "smp.hpp"
#include "spinlock.hpp"
#include "time.hpp"

extern "C" void domus_switch_context(void** save_sp, void* next_sp);

namespace domus::guest {

namespace {

    Spinlock sched_spin;
    domus_waitq run_queue;
    uint64_t idle_mask; // vCPUs blocked (or about to block) in their idle loop; under the lock
    uint64_t down_mask; // vCPUs going offline or offline: they take no work; under the lock

    bool eligible(const domus_thread* t, unsigned vcpu)
    {
        if (down_mask & (1ull << vcpu))
            return false;
        return t->vcpu < 0 || unsigned(t->vcpu) == vcpu;
    }

    // A thread bound to a vCPU that is gone (or going) is unbound, as Linux breaks the
    // affinity of a task whose only CPU goes offline: nothing is stranded on it.
    void unbind_if_stranded(domus_thread* t)
    {
        if (t->vcpu >= 0 && (down_mask & (1ull << t->vcpu)))
            t->vcpu = DOMUS_ANY_VCPU;
    }

    void runq_add(domus_thread* t)
    {
        unbind_if_stranded(t);
        waitq_push(&run_queue, t);
    }

    // Wakes every idle vCPU if the run queue holds work (after a vCPU left: what it was
    // kicked for must still find a taker).
    void kick_idle_for_runq_locked(Cpu* c)
    {
        if (run_queue.head && idle_mask) {
            c->kick_mask |= idle_mask;
            idle_mask = 0;
        }
    }

    domus_thread* runq_take(unsigned vcpu)
    {
        domus_thread* prev = nullptr;
        for (domus_thread* t = run_queue.head; t; prev = t, t = t->next) {
            if (!eligible(t, vcpu))
                continue;
            if (prev)
                prev->next = t->next;
            else
                run_queue.head = t->next;
            if (run_queue.tail == t)
                run_queue.tail = prev;
            t->next = nullptr;
            return t;
        }
        return nullptr;
    }

} // namespace

void waitq_push(domus_waitq* q, domus_thread* t)
{
    t->next = nullptr;
    if (q->tail)
        q->tail->next = t;
    else
        q->head = t;
    q->tail = t;
}

domus_thread* waitq_pop(domus_waitq* q)
{
    domus_thread* t = q->head;
    if (t) {
        q->head = t->next;
        if (!q->head)
            q->tail = nullptr;
        t->next = nullptr;
    }
    return t;
}

void waitq_remove(domus_waitq* q, domus_thread* t)
{
    domus_thread* prev = nullptr;
    for (domus_thread* i = q->head; i; prev = i, i = i->next) {
        if (i != t)
            continue;
        if (prev)
            prev->next = t->next;
        else
            q->head = t->next;
        if (q->tail == t)
            q->tail = prev;
        t->next = nullptr;
        return;
    }
}

uint8_t sched_lock()
{
    uint8_t flags = irq_save();
    sched_spin.lock();
    return flags;
}

void sched_unlock(uint8_t flags)
{
    Cpu* c = this_cpu();
    uint64_t kicks = c->kick_mask;
    bool dirty = c->timer_dirty;
    uint64_t wanted = dirty ? timer_wanted_locked(c) : 0;
    c->kick_mask = 0;
    c->timer_dirty = false;
    sched_spin.unlock();
    // Outside the lock: each of these is a VM exit.
    while (kicks) {
        unsigned target = __builtin_ctzll(kicks);
        kicks &= kicks - 1;
        if (cpus[target] && cpus[target]->ipi_port)
            hyp_domus_notify(cpus[target]->ipi_port);
    }
    if (dirty)
        timer_program(c, wanted);
    irq_restore(flags);
}

bool runq_has_work_for_locked(unsigned vcpu)
{
    for (domus_thread* t = run_queue.head; t; t = t->next)
        if (eligible(t, vcpu))
            return true;
    return false;
}

void make_runnable_locked(domus_thread* t)
{
    t->state = kThreadRunnable;
    runq_add(t);
    Cpu* c = this_cpu();
    // An idle vCPU running this (an upcall in its idle thread) picks the thread up itself
    // when the upcall returns; otherwise wake one idle vCPU that may run it.
    uint64_t candidates = idle_mask & ~(1ull << c->id);
    if (t->vcpu >= 0)
        candidates &= 1ull << t->vcpu;
    if (c->current->idle && !c->idle_claimed && eligible(t, c->id)) {
        c->idle_claimed = true;
        return;
    }
    if (!candidates) {
        // Every vCPU that may run it is busy, and a busy vCPU arms its time slice only
        // while someone waits (timer_wanted_locked): this one, or the one it is bound
        // to (an IPI makes it look at its timer), now ends its thread's slice.
        if (t->vcpu < 0 || unsigned(t->vcpu) == c->id) {
            c->timer_dirty = true;
        } else if (Cpu* owner = cpus[t->vcpu]) {
            owner->timer_dirty = true;
            c->kick_mask |= 1ull << owner->id;
        }
        return;
    }
    uint64_t target = candidates & -candidates;
    idle_mask &= ~target;
    c->kick_mask |= target;
}

void schedule_locked()
{
    Cpu* c = this_cpu();
    domus_thread* prev = c->current;
    check_stack(prev);
    domus_thread* next = runq_take(c->id);
    bool leaving = down_mask & (1ull << c->id); // this vCPU goes offline: off it, all
    if (prev->state == kThreadRunning) {
        if (!next && !leaving)
            return; // nothing else to run: keep going
        if (!prev->idle) {
            prev->state = kThreadRunnable;
            runq_add(prev);
            if (leaving)
                kick_idle_for_runq_locked(c);
        }
    }
    if (!next)
        next = &c->idle_thread;
    if (next == prev) {
        prev->state = kThreadRunning;
        return;
    }
    next->state = kThreadRunning;
    next->last_vcpu = c->id;
    c->current = next;
    ++c->switches;
    if (!next->idle) {
        c->slice_end = monotonic_ns() + kTimeSliceNs;
        if (!c->timer_programmed || c->timer_programmed > c->slice_end)
            c->timer_dirty = true;
    }
    domus_switch_context(&prev->saved_sp, next->saved_sp);
    // Resumed, maybe on another vCPU, with the lock held by whoever switched to us.
}

void block_current_locked(domus_waitq* q)
{
    domus_thread* self = this_cpu()->current;
    if (self->idle)
        panic("idle thread of vCPU %u tried to block", this_cpu()->id);
    waitq_push(q, self);
    self->state = kThreadBlocked;
    schedule_locked();
}

void yield()
{
    uint8_t flags = sched_lock();
    schedule_locked();
    sched_unlock(flags);
}

void preempt_if_needed(Cpu* cpu)
{
    if (!cpu->need_resched)
        return;
    cpu->need_resched = false;
    if (cpu->current->idle)
        return; // the idle loop looks at the run queue itself
    ++cpu->preemptions;
    uint8_t flags = sched_lock();
    schedule_locked();
    sched_unlock(flags);
}

void waitq_wake_all(domus_waitq* q)
{
    uint8_t flags = sched_lock();
    while (domus_thread* t = waitq_pop(q))
        make_runnable_locked(t);
    sched_unlock(flags);
}

void waitq_sleep_while(domus_waitq* q, bool (*pred)(void*), void* ctx)
{
    uint8_t flags = sched_lock();
    if (pred(ctx))
        block_current_locked(q);
    sched_unlock(flags);
}

void init_sched()
{
    idle_mask = 0;
    down_mask = 0;
}

void sched_take_offline_locked(unsigned vcpu)
{
    uint64_t bit = 1ull << vcpu;
    down_mask |= bit;
    idle_mask &= ~bit;
    for (domus_thread* t = run_queue.head; t; t = t->next)
        unbind_if_stranded(t);
    Cpu* c = this_cpu();
    kick_idle_for_runq_locked(c);
    c->kick_mask |= bit; // its IPI: it leaves what it runs and goes down
}

void sched_bring_online_locked(unsigned vcpu) { down_mask &= ~(1ull << vcpu); }

bool sched_going_offline(const Cpu* c)
{
    return __atomic_load_n(&down_mask, __ATOMIC_ACQUIRE) & (1ull << c->id);
}

void sched_cpu_leave_locked(Cpu* c)
{
    idle_mask &= ~(1ull << c->id);
    sleepers_leave_locked(c);
    kick_idle_for_runq_locked(c);
}

void idle_loop()
{
    for (;;) {
        sched_lock();
        Cpu* c = this_cpu();
        idle_mask &= ~(1ull << c->id);
        c->idle_claimed = false;
        if (down_mask & (1ull << c->id)) {
            cpu_play_dead(c); // drops the lock; returns when the vCPU is up again
            continue;
        }
        if (runq_has_work_for_locked(c->id)) {
            schedule_locked();
            sched_unlock(1);
            continue;
        }
        idle_mask |= 1ull << c->id;
        sched_unlock(1);
        // Sleeps until an event is pending; returns with upcalls unmasked. An IPI sent
        // after we set the idle bit is pending already and makes it return at once.
        hyp_sched_op(SCHEDOP_block);
        irq_enable(); // handle what is pending if the monitor has not injected it yet
    }
}

} // namespace domus::guest
