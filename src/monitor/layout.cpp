// Layout computation: pure arithmetic on the memory size.
#include "monitor/layout.hpp"

#include "base/checked.hpp"
#include "monitor/page_tables.hpp"

namespace domus::monitor {

Result<Layout> Layout::compute(std::uint64_t memory_size) {
    if (memory_size < kMinMemory || memory_size > kMaxMemory)
        return make_error("memory size {} MiB is outside {}..{} MiB", memory_size >> 20,
                          kMinMemory >> 20, kMaxMemory >> 20);
    Layout layout;
    layout.memory_size = align_up(memory_size, kLargePageSize);
    layout.page_table_frames = page_table_frames_for(layout.memory_size);
    std::uint64_t top = layout.memory_size;
    layout.page_tables = top - layout.page_table_frames * kPageSize;
    layout.boot_stack_top = layout.page_tables - kPageSize;  // one guard page (not enforced)
    std::uint64_t stack_bottom = layout.boot_stack_top - kBootStackSize;
    layout.store_ring = stack_bottom - kPageSize;
    layout.console_ring = layout.store_ring - kPageSize;
    layout.shared_info = layout.console_ring - kPageSize;
    layout.start_info = layout.shared_info - kPageSize;
    layout.tss = layout.start_info - kTssPages * kPageSize;
    layout.monitor_area = layout.tss;
    return layout;
}

}  // namespace domus::monitor
