// ELF64 loader for Domus guest images: parses and validates an image against the
// guest layout, then copies its segments into guest memory. Rejects, with a message
// naming the problem: non-ELF files, wrong class/machine/type, dynamic images,
// segments outside [image base, monitor area), overlapping segments, a missing or
// misplaced hypercall page note, and an entry point outside the code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace domus::monitor {

class GuestMemory;

struct ElfSegment {
    std::uint64_t guest_addr;  // physical == virtual
    std::uint64_t file_offset;
    std::uint64_t file_size;
    std::uint64_t memory_size;
    bool executable;
};

struct ElfImage {
    std::uint64_t entry = 0;
    std::uint64_t hypercall_page = 0;  // from XEN_ELFNOTE_HYPERCALL_PAGE
    std::uint64_t image_end = 0;       // highest byte + 1 of any segment
    std::vector<ElfSegment> segments;
};

// Validates `file` for a guest whose loadable window is [load_base, load_limit).
Result<ElfImage> parse_elf(std::span<const std::byte> file, std::uint64_t load_base,
                           std::uint64_t load_limit);

// Copies the segments of a parsed image into guest memory, zeroing the .bss parts.
Result<void> load_elf(const ElfImage& image, std::span<const std::byte> file,
                      const GuestMemory& memory);

// Reads what parse_elf() and load_elf() use of a kernel file: up to the end of its program
// headers and of its last PT_LOAD or PT_NOTE contents (a debug build's symbols and debug
// sections after them are not read). The error names the path.
Result<std::vector<std::byte>> read_file(const std::string& path);

}  // namespace domus::monitor
