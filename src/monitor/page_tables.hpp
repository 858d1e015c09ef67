// Builds the guest's boot page tables (guest-physical memory mapped 1:1 at virtual 0
// with 2 MiB user pages, the first 2 MiB unmapped) and its TSS. Pure: writes buffers.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

namespace domus::monitor {

// PML4 + one PDPT + one page directory per GiB.
std::uint64_t page_table_frames_for(std::uint64_t memory_size) noexcept;

// Fills `tables` (page_table_frames_for(memory_size) pages, which the guest sees at
// guest-physical `tables_gpa`) with the map. Returns false if the buffer is too small.
bool build_identity_map(std::span<std::byte> tables, std::uint64_t tables_gpa,
                        std::uint64_t memory_size) noexcept;

// Fills `tss` (kTssPages pages, layout.hpp) with a TSS whose I/O bitmap allows every
// port, 0..0xffff, to CPL3, and its closing 0xff byte. False if the buffer is too small.
bool build_tss(std::span<std::byte> tss) noexcept;

// Walks tables built above, as the CPU would: the physical address for `virt`, or
// nothing when unmapped or not user-accessible. For tests and crash reports.
std::optional<std::uint64_t> translate(std::span<const std::byte> tables, std::uint64_t tables_gpa,
                                       std::uint64_t virt) noexcept;

}  // namespace domus::monitor
