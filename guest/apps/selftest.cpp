// selftest: exercises the kernel from the application side on every vCPU: parallel
// threads, mutex/cond/sem under contention, sleep accuracy, IPIs to another vCPU,
// malloc from many threads, FP/AVX state kept across preemption. Prints
// "selftest: PASS" and exits 0, or "selftest: FAIL <what>" and exits 1.
#include <domus/abi/vcpu.h>
#include <domus/guest.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <x86intrin.h>

namespace {

int failures;

void check(bool ok, const char* what)
{
    if (!ok) {
        printf("selftest: FAIL %s\n", what);
        ++failures;
    }
}

domus_thread_t* spawn(domus_thread_fn fn, void* arg, const char* name, int vcpu = DOMUS_ANY_VCPU)
{
    domus_thread_attr_t attr {};
    attr.name = name;
    attr.vcpu = vcpu;
    domus_thread_t* t = domus_thread_create(fn, arg, &attr);
    if (!t) {
        printf("selftest: FAIL cannot create thread %s\n", name);
        exit(1);
    }
    return t;
}

// Runs `n` (at most 16) threads of `fn` on `arg`, anywhere, and waits for them all.
void run_threads(domus_thread_fn fn, void* arg, const char* name, unsigned n)
{
    domus_thread_t* threads[16];
    for (unsigned i = 0; i < n; ++i)
        threads[i] = spawn(fn, arg, name);
    for (unsigned i = 0; i < n; ++i)
        domus_thread_join(threads[i]);
}

// ---- parallelism: one pinned thread per vCPU, busy for a while; two of them on
// different vCPUs must have been running at the same moment.
struct Span {
    unsigned vcpu;
    uint64_t start, end;
    int* running;
    int max_running;
};

void span_thread(void* p)
{
    auto* s = static_cast<Span*>(p);
    s->start = domus_monotonic_ns();
    int now = __atomic_add_fetch(s->running, 1, __ATOMIC_SEQ_CST);
    s->vcpu = domus_vcpu_id();
    uint64_t end = s->start + 30'000'000;
    while (domus_monotonic_ns() < end) {
        int r = __atomic_load_n(s->running, __ATOMIC_SEQ_CST);
        if (r > now)
            now = r;
        __builtin_ia32_pause();
    }
    s->max_running = now;
    __atomic_sub_fetch(s->running, 1, __ATOMIC_SEQ_CST);
    s->end = domus_monotonic_ns();
}

void test_parallel(unsigned nvcpus)
{
    if (nvcpus < 2) {
        printf("selftest: parallel skipped (1 vCPU)\n");
        return;
    }
    static Span spans[DOMUS_MAX_VCPUS];
    static domus_thread_t* threads[DOMUS_MAX_VCPUS];
    int running = 0;
    for (unsigned i = 0; i < nvcpus; ++i) {
        spans[i] = Span { 0, 0, 0, &running, 0 };
        threads[i] = spawn(span_thread, &spans[i], "span", int(i));
    }
    bool pinned = true, overlap = false;
    for (unsigned i = 0; i < nvcpus; ++i) {
        domus_thread_join(threads[i]);
        pinned &= spans[i].vcpu == i;
        overlap |= spans[i].max_running > 1;
    }
    for (unsigned i = 0; i < nvcpus && !overlap; ++i)
        for (unsigned j = i + 1; j < nvcpus; ++j)
            overlap |= spans[i].start < spans[j].end && spans[j].start < spans[i].end;
    check(pinned, "parallel: a pinned thread ran on the wrong vCPU");
    check(overlap, "parallel: threads on different vCPUs never overlapped");
    printf("selftest: parallel on %u vCPUs ok=%d\n", nvcpus, pinned && overlap);
}

// ---- recursive mutex: a non-atomic counter under a lock taken twice per round.
struct RecursiveTest {
    domus_mutex_t lock = DOMUS_RECURSIVE_MUTEX_INIT;
    volatile uint64_t counter = 0;
};

void recursive_thread(void* p)
{
    auto* m = static_cast<RecursiveTest*>(p);
    for (int i = 0; i < 2000; ++i) {
        domus_mutex_lock(&m->lock);
        domus_mutex_lock(&m->lock);
        uint64_t v = m->counter;
        if (i % 64 == 0)
            domus_yield(); // hold it across a switch now and then
        m->counter = v + 1;
        domus_mutex_unlock(&m->lock);
        m->counter = m->counter + 1;
        domus_mutex_unlock(&m->lock);
    }
}

void test_recursive_mutex(unsigned nthreads)
{
    static RecursiveTest m;
    run_threads(recursive_thread, &m, "rmutex", nthreads);
    check(m.counter == uint64_t(nthreads) * 4000, "recursive mutex: lost updates");
}

struct ExactMutex {
    domus_mutex_t lock = DOMUS_MUTEX_INIT;
    volatile uint64_t counter = 0;
};

void exact_mutex_thread(void* p)
{
    auto* m = static_cast<ExactMutex*>(p);
    for (int i = 0; i < 5000; ++i) {
        domus_mutex_lock(&m->lock);
        uint64_t v = m->counter;
        if (i % 100 == 0)
            domus_yield();
        for (int k = 0; k < 20; ++k)
            __builtin_ia32_pause();
        m->counter = v + 1;
        domus_mutex_unlock(&m->lock);
    }
}

void test_exact_mutex(unsigned nthreads)
{
    static ExactMutex m;
    run_threads(exact_mutex_thread, &m, "xmutex", nthreads);
    check(m.counter == uint64_t(nthreads) * 5000, "mutex: lost updates under contention");
    printf("selftest: mutex counter %lu of %lu\n", (unsigned long)m.counter,
        (unsigned long)(nthreads * 5000ul));
}

// ---- condition variable: bounded queue, several producers and consumers.
struct Queue {
    domus_mutex_t lock = DOMUS_MUTEX_INIT;
    domus_cond_t not_empty = DOMUS_COND_INIT;
    domus_cond_t not_full = DOMUS_COND_INIT;
    int items[8];
    int head = 0, count = 0;
    uint64_t consumed_sum = 0;
    int consumed = 0;
};
constexpr int kPerProducer = 3000;

void producer(void* p)
{
    auto* q = static_cast<Queue*>(p);
    for (int i = 1; i <= kPerProducer; ++i) {
        domus_mutex_lock(&q->lock);
        while (q->count == 8)
            domus_cond_wait(&q->not_full, &q->lock);
        q->items[(q->head + q->count++) % 8] = i;
        domus_cond_signal(&q->not_empty);
        domus_mutex_unlock(&q->lock);
    }
}

void consumer(void* p)
{
    auto* q = static_cast<Queue*>(p);
    for (int n = 0; n < kPerProducer; ++n) {
        domus_mutex_lock(&q->lock);
        while (q->count == 0)
            domus_cond_wait(&q->not_empty, &q->lock);
        int v = q->items[q->head];
        q->head = (q->head + 1) % 8;
        --q->count;
        q->consumed_sum += v;
        ++q->consumed;
        domus_cond_signal(&q->not_full);
        domus_mutex_unlock(&q->lock);
    }
}

void test_cond()
{
    static Queue q;
    domus_thread_t* t[6];
    for (int i = 0; i < 3; ++i) {
        t[i] = spawn(producer, &q, "producer");
        t[3 + i] = spawn(consumer, &q, "consumer");
    }
    for (auto* th : t)
        domus_thread_join(th);
    uint64_t expected = 3ull * kPerProducer * (kPerProducer + 1) / 2;
    check(q.consumed == 3 * kPerProducer && q.consumed_sum == expected,
        "cond: items lost or duplicated");
}

// ---- semaphore: at most 2 holders at once, every unit returned.
struct SemTest {
    domus_sem_t sem = DOMUS_SEM_INIT(2);
    int holders = 0;
    int max_holders = 0;
};

void sem_thread(void* p)
{
    auto* s = static_cast<SemTest*>(p);
    for (int i = 0; i < 300; ++i) {
        domus_sem_down(&s->sem);
        int h = __atomic_add_fetch(&s->holders, 1, __ATOMIC_SEQ_CST);
        int m = __atomic_load_n(&s->max_holders, __ATOMIC_SEQ_CST);
        while (h > m
            && !__atomic_compare_exchange_n(
                &s->max_holders, &m, h, true, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) { }
        if (i % 10 == 0)
            domus_yield();
        __atomic_sub_fetch(&s->holders, 1, __ATOMIC_SEQ_CST);
        domus_sem_up(&s->sem);
    }
}

void test_sem()
{
    static SemTest s;
    run_threads(sem_thread, &s, "sem", 6);
    check(s.max_holders <= 2, "sem: more holders than units");
    int units = 0;
    while (domus_sem_trydown(&s.sem))
        ++units;
    check(units == 2, "sem: units lost");
}

// ---- sleep accuracy.
void test_sleep()
{
    static const unsigned long long sleeps_ms[] = { 1, 5, 20 };
    for (unsigned long long ms : sleeps_ms) {
        uint64_t t0 = domus_monotonic_ns();
        domus_sleep_ms(ms);
        uint64_t took = domus_monotonic_ns() - t0;
        char what[96];
        snprintf(what, sizeof what, "sleep: %llu ms took %.3f ms", ms, took / 1e6);
        check(took >= ms * 1000000 - 20000 && took < ms * 1000000 + 15000000, what);
    }
}

// ---- timed waits: a semaphore nobody ups times out near its deadline and leaves no
// trace in the queue; one upped in time returns the unit; a condition variable likewise.
struct TimedTest {
    domus_sem_t sem = DOMUS_SEM_INIT(0);
    domus_mutex_t lock = DOMUS_MUTEX_INIT;
    domus_cond_t cond = DOMUS_COND_INIT;
    volatile int flag = 0;
    volatile int timeouts = 0;
};

void timed_upper(void* p)
{
    auto* t = static_cast<TimedTest*>(p);
    domus_sleep_ms(2);
    domus_sem_up(&t->sem);
    domus_mutex_lock(&t->lock);
    t->flag = 1;
    domus_cond_signal(&t->cond);
    domus_mutex_unlock(&t->lock);
}

void timed_waiter(void* p)
{
    auto* t = static_cast<TimedTest*>(p);
    for (int i = 0; i < 20; ++i)
        if (!domus_sem_down_until(&t->sem, domus_monotonic_ns() + 200'000))
            __atomic_add_fetch(&t->timeouts, 1, __ATOMIC_SEQ_CST);
}

void test_timed_waits()
{
    static TimedTest t;
    uint64_t t0 = domus_monotonic_ns();
    int got = domus_sem_down_until(&t.sem, t0 + 5'000'000);
    uint64_t took = domus_monotonic_ns() - t0;
    check(!got, "timed wait: a semaphore nobody upped was taken");
    char what[96];
    snprintf(what, sizeof what, "timed wait: a 5 ms timeout took %.3f ms", took / 1e6);
    check(took >= 4'980'000 && took < 20'000'000, what);
    check(!t.sem.waiters.head, "timed wait: a timed-out waiter stayed queued");

    domus_thread_t* upper = spawn(timed_upper, &t, "upper");
    check(domus_sem_down_until(&t.sem, domus_monotonic_ns() + 2'000'000'000) == 1,
        "timed wait: an upped semaphore timed out");
    domus_mutex_lock(&t.lock);
    while (!t.flag)
        if (!domus_cond_wait_until(&t.cond, &t.lock, domus_monotonic_ns() + 2'000'000'000))
            break;
    check(t.flag == 1, "timed wait: a signalled condition timed out");
    check(!domus_cond_wait_until(&t.cond, &t.lock, domus_monotonic_ns() + 1'000'000),
        "timed wait: an unsignalled condition woke");
    domus_mutex_unlock(&t.lock);
    domus_thread_join(upper);

    // Many short timeouts on every vCPU at once, then each unit upped is taken once.
    run_threads(timed_waiter, &t, "timed", 4);
    check(t.timeouts == 80, "timed wait: short timeouts lost");
    for (int i = 0; i < 3; ++i)
        domus_sem_up(&t.sem);
    int units = 0;
    while (domus_sem_trydown(&t.sem))
        ++units;
    check(units == 3, "timed wait: units lost after timeouts");
}

// ---- events: an IPI bound to another vCPU runs its handler there.
struct IpiTest {
    domus_sem_t done = DOMUS_SEM_INIT(0);
    volatile unsigned handler_vcpu = ~0u;
    int count = 0;
};

void ipi_handler(evtchn_port_t, void* data)
{
    auto* t = static_cast<IpiTest*>(data);
    t->handler_vcpu = domus_vcpu_id();
    __atomic_add_fetch(&t->count, 1, __ATOMIC_SEQ_CST);
    domus_sem_up(&t->done);
}

void test_ipi(unsigned nvcpus)
{
    static IpiTest t;
    unsigned target = nvcpus > 1 ? nvcpus - 1 : 0;
    evtchn_port_t port;
    int rc = domus_evtchn_bind_ipi(target, &port);
    check(rc == 0, "events: bind_ipi failed");
    if (rc)
        return;
    domus_evtchn_set_handler(port, ipi_handler, &t);
    domus_evtchn_unmask(port);
    for (int i = 0; i < 5; ++i) {
        domus_evtchn_notify(port);
        domus_sem_down(&t.done);
    }
    check(t.count == 5, "events: IPI handler count");
    check(t.handler_vcpu == target, "events: IPI handler ran on the wrong vCPU");
    domus_evtchn_close(port);
}

// ---- malloc from many threads.
void malloc_thread(void* p)
{
    auto* bad = static_cast<int*>(p);
    void* blocks[32] = {};
    size_t sizes[32] = {};
    unsigned seed = unsigned(domus_monotonic_ns()) | 1;
    for (int i = 0; i < 2000; ++i) {
        seed = seed * 1103515245 + 12345;
        int slot = (seed >> 8) % 32;
        if (blocks[slot]) {
            auto* b = static_cast<unsigned char*>(blocks[slot]);
            for (size_t k = 0; k < sizes[slot]; ++k)
                if (b[k] != (unsigned char)(slot ^ sizes[slot]))
                    __atomic_add_fetch(bad, 1, __ATOMIC_SEQ_CST);
            free(blocks[slot]);
        }
        sizes[slot] = 1 + (seed >> 12) % 3000;
        blocks[slot] = malloc(sizes[slot]);
        if (!blocks[slot]) {
            __atomic_add_fetch(bad, 1, __ATOMIC_SEQ_CST);
            continue;
        }
        memset(blocks[slot], slot ^ sizes[slot], sizes[slot]);
    }
    for (void* b : blocks)
        free(b);
}

void test_malloc()
{
    int bad = 0;
    run_threads(malloc_thread, &bad, "malloc", 8);
    check(bad == 0, "malloc: corrupted or failed allocations");
}

// ---- FP/AVX state across preemption: two threads on one vCPU, each with its own
// values in all vector registers, spinning without yielding; the other one's progress
// while a thread is mid-spin proves it was preempted in between.
struct FpTest {
    double seed;
    volatile uint64_t progress;
    FpTest* other;
    bool preempted;
    bool ok;
    double sum;
};

bool have_avx()
{
    unsigned a, b, c, d;
    __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
    if (!(c & (1u << 28)) || !(c & (1u << 27)))
        return false;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (lo & 6) == 6;
}
bool avx;

void fp_thread(void* p)
{
    auto* t = static_cast<FpTest*>(p);
    t->ok = true;
    uint64_t end = domus_monotonic_ns() + 120'000'000;
    double sum = 0;
    while (domus_monotonic_ns() < end) {
        uint64_t other_before = t->other->progress;
        alignas(32) double out[16][4];
        double v = t->seed;
        if (avx) {
            __asm__ volatile(
                "vbroadcastsd %[v], %%ymm0\n\t"
                "vmovapd %%ymm0, %%ymm1\n\tvmovapd %%ymm0, %%ymm2\n\tvmovapd %%ymm0, %%ymm3\n\t"
                "vmovapd %%ymm0, %%ymm4\n\tvmovapd %%ymm0, %%ymm5\n\tvmovapd %%ymm0, %%ymm6\n\t"
                "vmovapd %%ymm0, %%ymm7\n\tvmovapd %%ymm0, %%ymm8\n\tvmovapd %%ymm0, %%ymm9\n\t"
                "vmovapd %%ymm0, %%ymm10\n\tvmovapd %%ymm0, %%ymm11\n\tvmovapd %%ymm0, %%ymm12\n\t"
                "vmovapd %%ymm0, %%ymm13\n\tvmovapd %%ymm0, %%ymm14\n\tvmovapd %%ymm0, %%ymm15\n\t"
                "mov $400000, %%ecx\n"
                "1: pause\n\tdec %%ecx\n\tjnz 1b\n\t"
                "vmovapd %%ymm0, 0(%[o])\n\tvmovapd %%ymm1, 32(%[o])\n\tvmovapd %%ymm2, "
                "64(%[o])\n\t"
                "vmovapd %%ymm3, 96(%[o])\n\tvmovapd %%ymm4, 128(%[o])\n\tvmovapd %%ymm5, "
                "160(%[o])\n\t"
                "vmovapd %%ymm6, 192(%[o])\n\tvmovapd %%ymm7, 224(%[o])\n\tvmovapd %%ymm8, "
                "256(%[o])\n\t"
                "vmovapd %%ymm9, 288(%[o])\n\tvmovapd %%ymm10, 320(%[o])\n\tvmovapd %%ymm11, "
                "352(%[o])\n\t"
                "vmovapd %%ymm12, 384(%[o])\n\tvmovapd %%ymm13, 416(%[o])\n\tvmovapd %%ymm14, "
                "448(%[o])\n\t"
                "vmovapd %%ymm15, 480(%[o])\n\tvzeroupper"
                :
                : [v] "m"(v), [o] "r"(out)
                : "rcx", "memory", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",
                "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
            for (auto& reg : out)
                for (double lane : reg)
                    if (lane != v)
                        t->ok = false;
        }
        // Scalar FP with values live in registers across the spin.
        double a = t->seed, b = t->seed * 0.5;
        for (int i = 0; i < 200000; ++i) {
            a = a * 0.999999 + b;
            b = b * 0.999999 + 1e-9;
        }
        sum += a + b;
        if (t->other->progress != other_before)
            t->preempted = true;
        __atomic_store_n(&t->progress, t->progress + 1, __ATOMIC_RELAXED);
    }
    t->sum = sum;
}

double fp_reference(double seed, uint64_t rounds)
{
    double sum = 0;
    for (uint64_t r = 0; r < rounds; ++r) {
        double a = seed, b = seed * 0.5;
        for (int i = 0; i < 200000; ++i) {
            a = a * 0.999999 + b;
            b = b * 0.999999 + 1e-9;
        }
        sum += a + b;
    }
    return sum;
}

void test_fp()
{
    avx = have_avx();
    static FpTest x { 1.25, 0, nullptr, false, false, 0 }, y { -7.5, 0, nullptr, false, false, 0 };
    x.other = &y;
    y.other = &x;
    domus_thread_t* a = spawn(fp_thread, &x, "fp-a", 0);
    domus_thread_t* b = spawn(fp_thread, &y, "fp-b", 0);
    domus_thread_join(a);
    domus_thread_join(b);
    check(x.ok && y.ok, "fp: vector registers changed across preemption");
    check(x.preempted || y.preempted, "fp: threads on one vCPU were never preempted");
    check(x.sum == fp_reference(x.seed, x.progress) && y.sum == fp_reference(y.seed, y.progress),
        "fp: scalar results differ from a single-threaded run");
    printf("selftest: fp avx=%d rounds %lu/%lu preempted=%d\n", avx, (unsigned long)x.progress,
        (unsigned long)y.progress, x.preempted || y.preempted);
}

} // namespace

// The kernel's boot marks are in order, and all before main() began.
void test_boot_marks(uint64_t main_tsc)
{
    domus_boot_marks marks {};
    domus_get_boot_marks(&marks);
    check(marks.kernel_entry_tsc != 0, "boot marks: no kernel entry");
    check(marks.kernel_entry_tsc < marks.kernel_ready_tsc
            && marks.kernel_ready_tsc < marks.main_call_tsc && marks.main_call_tsc < main_tsc,
        "boot marks: out of order");
}

int main()
{
    uint64_t main_tsc = __rdtsc();
    unsigned nvcpus = domus_vcpu_count();
    printf("selftest: %u vCPUs\n", nvcpus);
    test_parallel(nvcpus);
    test_exact_mutex(nvcpus * 2 > 8 ? 8 : nvcpus * 2 + 2);
    test_recursive_mutex(4);
    test_cond();
    test_sem();
    test_sleep();
    test_timed_waits();
    test_ipi(nvcpus);
    test_malloc();
    test_fp();
    test_boot_marks(main_tsc);
    if (failures) {
        printf("selftest: FAIL (%d checks)\n", failures);
        return 1;
    }
    printf("selftest: PASS\n");
    return 0;
}
