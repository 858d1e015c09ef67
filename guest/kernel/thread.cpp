// Thread creation, exit, join and stack checks (see thread.hpp).
#include "thread.hpp"

#include "mm.hpp"
#include "percpu.hpp"
#include "sched.hpp"
#include "shutdown.hpp"

#include <string.h>

extern "C" void domus_thread_entry();

// Weak defaults: a kernel linked without the C library glue keeps no per-thread state.
extern "C" {
__attribute__((weak)) extern const size_t domus_libc_thread_area_size = 0;
__attribute__((weak)) void domus_libc_thread_init(void*) { }
__attribute__((weak)) void domus_libc_thread_fini(void*) { }
}

namespace domus::guest {

namespace {

    uint64_t next_thread_id = 1;
    domus_thread* zombies; // detached threads that ended; under the scheduler lock

    size_t round_up(size_t v, size_t a) { return (v + a - 1) & ~(a - 1); }

    void copy_name(domus_thread* t, const char* name)
    {
        size_t i = 0;
        for (; name && name[i] && i + 1 < sizeof t->name; ++i)
            t->name[i] = name[i];
        t->name[i] = '\0';
    }

} // namespace

void thread_reap_zombies()
{
    uint8_t flags = sched_lock();
    domus_thread* list = zombies;
    zombies = nullptr;
    sched_unlock(flags);
    while (list) {
        domus_thread* next = list->zombie_next;
        page_free(list->block, list->block_pages);
        list = next;
    }
}

void init_thread_idle(domus_thread* t, unsigned vcpu)
{
    memset(t, 0, sizeof *t);
    t->idle = true;
    t->state = kThreadRunning;
    t->vcpu = int32_t(vcpu);
    t->last_vcpu = vcpu;
    copy_name(t, "idle");
}

void check_stack(domus_thread* t)
{
    if (t->stack_canary && *t->stack_canary != kStackCanary)
        panic("stack overflow in thread '%s' (id %lu)", t->name, t->id);
}

domus_thread* thread_create(domus_thread_fn fn, void* arg, const domus_thread_attr_t* attr)
{
    thread_reap_zombies();
    size_t stack = attr && attr->stack_size ? attr->stack_size : DOMUS_DEFAULT_STACK_SIZE;
    stack = round_up(stack < 16384 ? 16384 : stack, 16);
    size_t libc_offset = round_up(sizeof(domus_thread), 64);
    size_t canary_offset = libc_offset + round_up(domus_libc_thread_area_size, 64);
    size_t header = canary_offset + 64;
    size_t pages = (header + stack + kPageSize - 1) / kPageSize;
    auto* block = static_cast<char*>(page_alloc(pages));
    if (!block)
        return nullptr;
    auto* t = reinterpret_cast<domus_thread*>(block);
    memset(block, 0, header);
    t->block = block;
    t->block_pages = pages;
    t->fn = fn;
    t->arg = arg;
    t->vcpu = attr ? attr->vcpu : DOMUS_ANY_VCPU;
    if (t->vcpu >= int(DOMUS_MAX_VCPUS) || (t->vcpu >= 0 && !cpus[t->vcpu]))
        t->vcpu = DOMUS_ANY_VCPU;
    t->detached = attr && attr->detached;
    t->id = __atomic_fetch_add(&next_thread_id, 1, __ATOMIC_RELAXED);
    copy_name(t, attr && attr->name ? attr->name : "thread");
    t->stack_canary = reinterpret_cast<uint64_t*>(block + canary_offset);
    *t->stack_canary = kStackCanary;
    if (domus_libc_thread_area_size) {
        t->libc_area = block + libc_offset;
        domus_libc_thread_init(t->libc_area);
    }
    // First switch: domus_switch_context pops the control words and six callee-saved
    // registers, then returns into domus_thread_entry with RBX = t and RSP = top.
    auto* sp = reinterpret_cast<uint64_t*>(block + pages * kPageSize);
    *--sp = reinterpret_cast<uint64_t>(&domus_thread_entry);
    *--sp = 0; // rbp
    *--sp = reinterpret_cast<uint64_t>(t); // rbx
    *--sp = 0; // r12
    *--sp = 0; // r13
    *--sp = 0; // r14
    *--sp = 0; // r15
    *--sp = 0x1f80; // MXCSR: defaults, all exceptions masked
    *--sp = 0x037f; // x87 control word
    t->saved_sp = sp;

    uint8_t flags = sched_lock();
    make_runnable_locked(t);
    sched_unlock(flags);
    return t;
}

void thread_exit()
{
    domus_thread* self = current_thread();
    if (self->libc_area)
        domus_libc_thread_fini(self->libc_area);
    sched_lock();
    self->state = kThreadDead;
    while (domus_thread* j = waitq_pop(&self->joiners))
        make_runnable_locked(j);
    if (self->detached) {
        self->zombie_next = zombies;
        zombies = self;
    }
    schedule_locked();
    panic("dead thread '%s' was scheduled", self->name);
}

int thread_join(domus_thread* t)
{
    if (!t || t == current_thread() || t->detached || t->idle)
        return -1;
    uint8_t flags = sched_lock();
    if (t->state != kThreadDead)
        block_current_locked(&t->joiners);
    sched_unlock(flags);
    // Dead, and the lock has been dropped after its last switch: the stack is free.
    page_free(t->block, t->block_pages);
    return 0;
}

} // namespace domus::guest

extern "C" void domus_thread_start(domus_thread* t)
{
    using namespace domus::guest;
    sched_unlock(0); // taken by the thread that switched to us; enables upcalls
    t->fn(t->arg);
    thread_exit();
}
