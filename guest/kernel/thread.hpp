// Kernel threads: the thread control block, creation, exit, join. A thread's block,
// its libc area and its stack are one allocation from the page allocator.
#pragma once

#include <domus/guest.h>
#include <stddef.h>
#include <stdint.h>

enum ThreadState : uint32_t {
    kThreadRunning = 0, // on a vCPU now
    kThreadRunnable = 1, // in the run queue
    kThreadBlocked = 2, // in a wait queue or a sleep list
    kThreadDead = 3, // finished; its stack is no longer in use once the lock drops
};

namespace domus::guest {
struct Cpu;
}

struct domus_thread {
    void* saved_sp; // while not running: stack pointer for domus_switch_context
    domus_thread* next; // link in the run queue, one wait queue or one sleep list
    uint32_t state; // ThreadState, changed under the scheduler lock
    int32_t vcpu; // DOMUS_ANY_VCPU or the vCPU it is pinned to
    uint64_t wake_at; // sleep deadline (monotonic ns)
    domus_thread* sleep_next; // link in a vCPU's sleepers list (apart from `next`: a timed
                              // wait is in a wait queue and a sleepers list at once)
    domus::guest::Cpu* sleeping_on; // whose sleepers list holds it; null = none
    domus_waitq* timed_wait; // the wait queue of a timed wait in progress, or null
    bool timed_out; // the timer ended that wait
    domus_thread_fn fn;
    void* arg;
    domus_waitq joiners;
    bool detached;
    bool idle; // a vCPU's idle thread: never queued, never blocks
    uint32_t last_vcpu;
    uint64_t id;
    void* block; // the allocation holding this struct and the stack
    size_t block_pages;
    uint64_t* stack_canary;
    void* libc_area; // per-thread C library state (struct _reent), may be null
    domus_thread* zombie_next;
    char name[24];
};

namespace domus::guest {

constexpr uint64_t kStackCanary = 0x5ca1ab1edeadc0deull;

void init_thread_idle(domus_thread* t, unsigned vcpu); // a vCPU's idle thread (boot context)
domus_thread* thread_create(domus_thread_fn fn, void* arg, const domus_thread_attr_t* attr);
[[noreturn]] void thread_exit();
// Frees the blocks of detached threads that ended (done at each thread_create, and by the
// balloon: a dead thread's stack left at the page allocator's floor, such as the suspend
// thread's, would keep the sbrk heap from growing into deflated memory).
void thread_reap_zombies();
int thread_join(domus_thread* t);
void check_stack(domus_thread* t); // panics when the canary at the stack bottom is gone

} // namespace domus::guest

// Per-thread hooks the C library glue provides (weak defaults in thread.cpp).
extern "C" {
extern const size_t domus_libc_thread_area_size;
void domus_libc_thread_init(void* area);
void domus_libc_thread_fini(void* area);
}
