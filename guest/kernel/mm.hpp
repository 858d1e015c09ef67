// Guest memory: [heap_start, heap_end) split between the C library's sbrk heap, which
// grows up from heap_start, and the page allocator (thread stacks, per-vCPU areas),
// which takes pages down from heap_end. They fail cleanly when they meet.
#pragma once

#include <stddef.h>
#include <stdint.h>

namespace domus::guest {

constexpr size_t kPageSize = 4096;

void init_mm();
void* page_alloc(size_t pages); // page-aligned, not zeroed; null when out of memory
void page_free(void* p, size_t pages);
void* heap_sbrk(intptr_t increment); // (void*)-1 when out of memory
size_t pages_free();

} // namespace domus::guest
