// Page allocator and sbrk heap (see mm.hpp). Freed page runs go on a first-fit list kept
// inside the free pages themselves; thread stacks of one size reuse each other's runs.
// A run freed at the floor raises the floor instead, so memory the balloon gives back
// to the kernel can serve the sbrk heap again.
#include "mm.hpp"

#include "boot_info.hpp"
#include "spinlock.hpp"

namespace domus::guest {

namespace {

    struct FreeRun {
        FreeRun* next;
        size_t pages;
    };

    Spinlock lock;
    uintptr_t brk; // end of the sbrk heap
    uintptr_t page_floor; // lowest page handed to the page allocator
    FreeRun* free_runs;
    size_t free_pages;

} // namespace

void init_mm()
{
    brk = boot.heap_start;
    page_floor = boot.heap_end & ~(kPageSize - 1);
}

void* page_alloc(size_t pages)
{
    if (!pages)
        return nullptr;
    IrqSpinGuard guard(lock);
    for (FreeRun** link = &free_runs; *link; link = &(*link)->next) {
        FreeRun* run = *link;
        if (run->pages < pages)
            continue;
        free_pages -= pages;
        if (run->pages == pages) {
            *link = run->next;
            return run;
        }
        // Hand out the top of the run; the header stays where it is.
        run->pages -= pages;
        return reinterpret_cast<char*>(run) + run->pages * kPageSize;
    }
    uintptr_t bytes = pages * kPageSize;
    if (page_floor - brk < bytes || page_floor < bytes)
        return nullptr;
    page_floor -= bytes;
    return reinterpret_cast<void*>(page_floor);
}

void page_free(void* p, size_t pages)
{
    if (!p || !pages)
        return;
    IrqSpinGuard guard(lock);
    if (reinterpret_cast<uintptr_t>(p) == page_floor) {
        // The run lies at the floor: the floor rises over it (and over free runs it now
        // touches), so the sbrk heap can grow into the memory again (a deflated balloon).
        page_floor += pages * kPageSize;
        for (FreeRun** link = &free_runs; *link;) {
            FreeRun* run = *link;
            if (reinterpret_cast<uintptr_t>(run) != page_floor) {
                link = &run->next;
                continue;
            }
            *link = run->next;
            free_pages -= run->pages;
            page_floor += run->pages * kPageSize;
            link = &free_runs; // the new floor may touch a run seen already
        }
        return;
    }
    auto* run = static_cast<FreeRun*>(p);
    run->pages = pages;
    run->next = free_runs;
    free_runs = run;
    free_pages += pages;
}

void* heap_sbrk(intptr_t increment)
{
    IrqSpinGuard guard(lock);
    uintptr_t old = brk;
    if (increment > 0 && uintptr_t(increment) > page_floor - brk)
        return reinterpret_cast<void*>(-1);
    if (increment < 0 && uintptr_t(-increment) > brk - boot.heap_start)
        return reinterpret_cast<void*>(-1);
    brk += increment;
    return reinterpret_cast<void*>(old);
}

size_t pages_free()
{
    IrqSpinGuard guard(lock);
    return free_pages + (page_floor - brk) / kPageSize;
}

} // namespace domus::guest
