// The scheduler: one global run queue and one scheduler lock shared with every wait
// queue (mutex, cond, sem, join, console input), vCPUs that pick from it, idle vCPUs
// blocked in SCHEDOP_block and woken by IPIs, and preemption from the timer upcall.
//
// Locking rule: the scheduler lock is taken with upcalls masked and is held across a
// context switch; the thread switched to releases it (sched_unlock). So a thread that
// blocks is fully off its stack before any other vCPU can see it in a queue.
#pragma once

#include "thread.hpp"

#include <stdint.h>

namespace domus::guest {

struct Cpu;

constexpr uint64_t kTimeSliceNs = DOMUS_TIME_SLICE_NS;

void init_sched();
[[noreturn]] void idle_loop();

uint8_t sched_lock(); // masks upcalls, returns the previous mask
void sched_unlock(uint8_t flags); // sends pending IPIs, reprograms the timer, restores the mask
void schedule_locked(); // switch away from the current thread (its state says why)
void make_runnable_locked(domus_thread* t);
bool runq_has_work_for_locked(unsigned vcpu); // a runnable thread that vCPU may take
void block_current_locked(domus_waitq* q);
void yield();
void preempt_if_needed(Cpu* cpu); // end of an upcall

// vCPU hot-unplug (smp.cpp drives it). Under the scheduler lock: mark `vcpu` as going
// offline (it takes no more work, threads bound to it are unbound, it gets an IPI), and
// clear the mark before bringing it up again. On the leaving vCPU itself, from its idle
// loop: hand back its sleepers and anything it was kicked for.
void sched_take_offline_locked(unsigned vcpu);
void sched_bring_online_locked(unsigned vcpu);
bool sched_going_offline(const Cpu* c); // upcall-safe
void sched_cpu_leave_locked(Cpu* c);

void waitq_push(domus_waitq* q, domus_thread* t);
domus_thread* waitq_pop(domus_waitq* q);
void waitq_remove(domus_waitq* q, domus_thread* t); // t need not be in q
void waitq_wake_all(domus_waitq* q); // upcall-safe
// Blocks on q as long as pred(ctx) holds; pred is evaluated under the scheduler lock,
// so a waker that changes the condition and then calls waitq_wake_all is never missed.
void waitq_sleep_while(domus_waitq* q, bool (*pred)(void*), void* ctx);

// Timers (timer.cpp): per-vCPU sleepers and the one-shot VIRQ_TIMER.
void init_cpu_timer(Cpu* cpu); // on that vCPU
void sleep_until(uint64_t deadline_ns);
uint64_t timer_wanted_locked(const Cpu* cpu); // the next deadline it needs, ~0 = none
void timer_program(Cpu* cpu, uint64_t wanted); // on that vCPU, upcalls masked
// Blocks in q until woken (true) or until the monotonic deadline passes (false; the
// thread is then out of q). Whoever wakes a thread from q need not know it was timed.
bool block_current_until_locked(domus_waitq* q, uint64_t deadline_ns);
void sleepers_leave_locked(Cpu* cpu); // a vCPU going offline hands its sleepers on

} // namespace domus::guest
