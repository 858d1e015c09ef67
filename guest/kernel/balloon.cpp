// The balloon driver (see balloon.hpp). Inflating takes runs of pages from page_alloc
// (up to 2 MiB at a time, smaller when memory is fragmented) and gives their frames back
// with XENMEM_decrease_reservation; deflating takes the frames back with
// increase_reservation and returns the pages with page_free. The balloon's runs are
// recorded in pages of its own (the given-back pages must never be touched: a touch
// would cost the host memory again). Progress is reported on the console when a target
// cannot be reached, and through domus_balloon_stats() (as Linux's
// /sys/devices/system/xen_memory/xen_memory0/info/{current_kb,target_kb}); the host sees
// the reservation itself (the monitor's memory_kib). Runs in its own thread ("balloon"),
// woken by the watch, so a long inflation never holds up other watches.
#include "balloon.hpp"

#include "hypercall.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sync.hpp"
#include "thread.hpp"
#include "xenbus.hpp"

#include <domus/guest.h>
#include <stdlib.h>

namespace domus::guest::balloon {

namespace {

    constexpr const char* kTargetNode = "memory/target";
    constexpr size_t kBatch = 512; // frames per hypercall (a 2 MiB run)
    // Free memory the balloon always leaves to the kernel (xenbus buffers, thread stacks):
    // a target below what that allows is reached as far as it can be.
    constexpr size_t kReservePages = 256;

    struct Run {
        uintptr_t addr;
        size_t pages;
    };
    // One page of the record: the runs the balloon holds, newest last.
    struct RecordPage {
        RecordPage* prev;
        size_t count;
        Run runs[(kPageSize - 2 * sizeof(void*)) / sizeof(Run)];
    };
    static_assert(sizeof(RecordPage) <= kPageSize);
    constexpr size_t kRunsPerPage = sizeof(RecordPage::runs) / sizeof(Run);

    domus_mutex_t lock = DOMUS_MUTEX_INIT;
    RecordPage* record; // the newest record page
    size_t ballooned_pages;
    uint64_t target_kib;
    uint64_t frames[kBatch];
    bool reported_short; // said once per target that it cannot be reached
    bool short_of_target; // the last pass moved less than it wanted: try again later

    long reservation_op(int cmd, size_t n)
    {
        xen_memory_reservation request {};
        request.extent_start = ptr_arg(frames);
        request.nr_extents = n;
        request.domid = DOMID_SELF;
        return hypercall_raw(__HYPERVISOR_memory_op, uint64_t(cmd), ptr_arg(&request));
    }

    long current_pages()
    {
        domid_t self = DOMID_SELF;
        return hypercall_raw(__HYPERVISOR_memory_op, XENMEM_current_reservation, ptr_arg(&self));
    }

    void fill_frames(uintptr_t addr, size_t pages)
    {
        for (size_t i = 0; i < pages; ++i)
            frames[i] = addr / kPageSize + i;
    }

    // Room for one more run in the record (a new record page if needed).
    bool record_room()
    {
        if (record && record->count < kRunsPerPage)
            return true;
        auto* page = static_cast<RecordPage*>(page_alloc(1));
        if (!page)
            return false;
        page->prev = record;
        page->count = 0;
        record = page;
        return true;
    }

    // Gives up to `pages` pages to the host; returns how many it gave.
    size_t inflate(size_t pages)
    {
        size_t given = 0;
        size_t run = kBatch;
        while (given < pages) {
            size_t avail = pages_free();
            if (avail <= kReservePages + 1 || !record_room())
                break;
            size_t n = pages - given < run ? pages - given : run;
            if (n > avail - kReservePages - 1)
                n = avail - kReservePages - 1;
            void* p = page_alloc(n);
            if (!p) {
                if (run == 1)
                    break;
                run /= 2; // fragmented: smaller runs
                continue;
            }
            uintptr_t addr = reinterpret_cast<uintptr_t>(p);
            fill_frames(addr, n);
            long done = reservation_op(XENMEM_decrease_reservation, n);
            if (done < 0)
                done = 0;
            if (size_t(done) < n) // the host refused a frame: keep the rest
                page_free(
                    reinterpret_cast<void*>(addr + size_t(done) * kPageSize), n - size_t(done));
            if (done > 0) {
                record->runs[record->count++] = { addr, size_t(done) };
                ballooned_pages += size_t(done);
                given += size_t(done);
            }
            if (size_t(done) < n)
                break;
        }
        return given;
    }

    // Takes up to `pages` pages back from the host; returns how many it took.
    size_t deflate(size_t pages)
    {
        size_t taken = 0;
        while (taken < pages && record) {
            if (record->count == 0) {
                RecordPage* empty = record;
                record = record->prev;
                page_free(empty, 1);
                continue;
            }
            // The newest run's lowest pages first: they lie at the page allocator's floor,
            // which rises again over them, so the sbrk heap can grow back into them.
            Run& last = record->runs[record->count - 1];
            size_t n = last.pages < pages - taken ? last.pages : pages - taken;
            uintptr_t head = last.addr;
            fill_frames(head, n);
            long done = reservation_op(XENMEM_increase_reservation, n);
            if (done < 0)
                done = 0;
            if (size_t(done) < n) { // over the maximum: give those back again, stop
                if (done > 0)
                    reservation_op(XENMEM_decrease_reservation, size_t(done));
                break;
            }
            page_free(reinterpret_cast<void*>(head), n);
            last.addr += n * kPageSize;
            last.pages -= n;
            if (last.pages == 0)
                --record->count;
            ballooned_pages -= n;
            taken += n;
        }
        if (record && record->count == 0 && !record->prev) {
            page_free(record, 1);
            record = nullptr;
        }
        return taken;
    }

    // Moves the reservation toward target_kib. Caller holds lock.
    void reach_target()
    {
        thread_reap_zombies(); // a dead thread's stack at the floor would pin it
        short_of_target = false;
        long current = current_pages();
        if (current < 0 || target_kib == 0)
            return;
        uint64_t target = target_kib / (kPageSize / 1024);
        size_t moved = 0, wanted = 0;
        if (uint64_t(current) > target) {
            wanted = size_t(uint64_t(current) - target);
            moved = inflate(wanted);
        } else if (uint64_t(current) < target) {
            wanted = size_t(target - uint64_t(current));
            if (wanted > ballooned_pages)
                wanted = ballooned_pages; // never above what the balloon holds
            moved = deflate(wanted);
        }
        short_of_target = moved < wanted;
        if (moved < wanted && !reported_short) {
            reported_short = true;
            printk("balloon: target %lu KiB not reached: at %lu KiB, %lu KiB free\n",
                (unsigned long)target_kib,
                (unsigned long)((uint64_t(current_pages()) * kPageSize) / 1024),
                (unsigned long)(pages_free() * kPageSize / 1024));
        }
    }

    bool read_target()
    {
        char value[32];
        int n = xenbus_read(XBT_NIL, kTargetNode, value, sizeof value);
        if (n <= 0 || size_t(n) >= sizeof value)
            return false;
        char* end;
        unsigned long long kib = strtoull(value, &end, 10);
        if (*end || kib == 0)
            return false;
        if (kib != target_kib)
            reported_short = false;
        target_kib = kib;
        return true;
    }

    // A target that cannot be reached now (no free pages) is tried again every second
    // until it is, or until the target changes.
    domus_sem_t wake = DOMUS_SEM_INIT(0);
    constexpr uint64_t kRetryMs = 1000;
    constexpr uint64_t kSliceMs = 50;

    void on_target(const char*, const char*, void*) { domus_sem_up(&wake); }

    void balloon_main(void*)
    {
        bool retry = false;
        for (;;) {
            if (retry) { // a new target still wakes it within a slice
                for (uint64_t waited = 0; waited < kRetryMs && !domus_sem_trydown(&wake);
                     waited += kSliceMs)
                    domus_sleep_ms(kSliceMs);
            } else {
                domus_sem_down(&wake);
            }
            while (domus_sem_trydown(&wake)) { } // one pass serves every event so far
            mutex_lock(&lock);
            // A target read again unchanged needs no pass (start() made one, and a
            // short one is retried): each pass asks the monitor for the reservation.
            uint64_t before = target_kib;
            if ((read_target() && target_kib != before) || retry)
                reach_target();
            retry = target_kib && short_of_target;
            mutex_unlock(&lock);
        }
    }

} // namespace

void start()
{
    if (!xenbus::enabled())
        return;
    // The thread's stack first: pages taken after the inflation would lie below the
    // balloon's runs and keep the sbrk heap from growing back into them (mm.cpp).
    domus_thread_attr_t attr {};
    attr.name = "balloon";
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    if (!thread_create(balloon_main, nullptr, &attr)) {
        printk("balloon: cannot create its thread: memory targets will be missed\n");
        return;
    }
    mutex_lock(&lock);
    if (read_target())
        reach_target();
    mutex_unlock(&lock);
    // Its first event reads the target again: a change meanwhile is not missed.
    xenbus::watch_soon(kTargetNode, "domus-balloon", on_target, nullptr, "memory targets");
}

Stats stats()
{
    mutex_lock(&lock);
    long current = current_pages();
    Stats s { current > 0 ? uint64_t(current) * (kPageSize / 1024) : 0, target_kib,
        ballooned_pages * (kPageSize / 1024) };
    mutex_unlock(&lock);
    return s;
}

} // namespace domus::guest::balloon

extern "C" void domus_balloon_stats(
    uint64_t* current_kib, uint64_t* target_kib, uint64_t* ballooned_kib)
{
    auto s = domus::guest::balloon::stats();
    if (current_kib)
        *current_kib = s.current_kib;
    if (target_kib)
        *target_kib = s.target_kib;
    if (ballooned_kib)
        *ballooned_kib = s.ballooned_kib;
}
