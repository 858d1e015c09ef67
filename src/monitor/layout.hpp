// The guest-physical memory layout the monitor builds at boot (see start_info.h):
// an unmapped first 2 MiB, the image from 2 MiB up, free memory, and the monitor
// area (start_info, shared_info, rings, boot stack, page tables) at the top.
#pragma once

#include <cstdint>

#include "base/result.hpp"

namespace domus::monitor {

inline constexpr std::uint64_t kPageSize = 4096;
inline constexpr std::uint64_t kLargePageSize = 2ull << 20;
inline constexpr std::uint64_t kImageBase = kLargePageSize;  // below it: unmapped (NULL guard)
inline constexpr std::uint64_t kMinMemory = 4ull << 20;
inline constexpr std::uint64_t kMaxMemory = 64ull << 30;
inline constexpr std::uint64_t kBootStackSize = 16 * 1024;

// The TSS exists for its I/O bitmap: a CPL3 port access traps on a PVM host (which
// never gives guests IOPL) and is emulated only if the bitmap allows the port. The
// bitmap follows the 104-byte TSS, one bit per port for all 64 Ki ports, and the byte
// after it must be 0xff (the CPU reads two bytes per check). kTssLimit is that byte.
inline constexpr std::uint64_t kTssIoBitmapOffset = 104;
inline constexpr std::uint64_t kTssIoBitmapBytes = 0x10000 / 8;
inline constexpr std::uint64_t kTssLimit = kTssIoBitmapOffset + kTssIoBitmapBytes;
inline constexpr std::uint64_t kTssPages = (kTssLimit + kPageSize) / kPageSize;  // 3

struct Layout {
    std::uint64_t memory_size = 0;   // multiple of 2 MiB
    std::uint64_t monitor_area = 0;  // first byte of the monitor area == heap end
    std::uint64_t tss = 0;           // kTssPages: the task state segment and its I/O bitmap
    std::uint64_t start_info = 0;
    std::uint64_t shared_info = 0;
    std::uint64_t console_ring = 0;
    std::uint64_t store_ring = 0;
    std::uint64_t boot_stack_top = 0;
    std::uint64_t page_tables = 0;
    std::uint64_t page_table_frames = 0;

    // memory_size is rounded up to 2 MiB; fails outside [kMinMemory, kMaxMemory].
    static Result<Layout> compute(std::uint64_t memory_size);
};

}  // namespace domus::monitor
