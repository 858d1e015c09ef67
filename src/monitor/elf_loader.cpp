// ELF64 parsing and loading. All offsets and sizes from the file are checked before use.
#include "monitor/elf_loader.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "base/checked.hpp"
#include "base/fd.hpp"
#include "monitor/guest_memory.hpp"

#include "storage/file_io.hpp"

#include <domus/abi/start_info.h>

namespace domus::monitor {
namespace {

template <class T>
bool copy_at(std::span<const std::byte> file, std::uint64_t offset, T& out) {
    if (!range_within(offset, sizeof(T), file.size())) return false;
    std::memcpy(&out, file.data() + offset, sizeof(T));
    return true;
}

// Walks the notes in [offset, offset + size) looking for owner "Xen", type `type`.
std::optional<std::uint64_t> find_xen_note(std::span<const std::byte> file, std::uint64_t offset,
                                           std::uint64_t size, std::uint32_t type) {
    std::uint64_t end = offset + size;  // caller checked the range
    while (offset + sizeof(Elf64_Nhdr) <= end) {
        Elf64_Nhdr note{};
        if (!copy_at(file, offset, note)) return std::nullopt;
        std::uint64_t name_at = offset + sizeof(note);
        std::uint64_t desc_at = name_at + align_up(note.n_namesz, 4);
        std::uint64_t next = desc_at + align_up(note.n_descsz, 4);
        if (next > end || next <= offset) return std::nullopt;
        if (note.n_namesz == 4 && note.n_type == type &&
            std::memcmp(file.data() + name_at, "Xen", 4) == 0 && note.n_descsz >= 8) {
            std::uint64_t value = 0;
            if (!copy_at(file, desc_at, value)) return std::nullopt;
            return value;
        }
        offset = next;
    }
    return std::nullopt;
}

}  // namespace

Result<ElfImage> parse_elf(std::span<const std::byte> file, std::uint64_t load_base,
                           std::uint64_t load_limit) {
    Elf64_Ehdr header;
    if (!copy_at(file, 0, header) || std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0)
        return make_error("not an ELF file");
    if (header.e_ident[EI_CLASS] != ELFCLASS64) return make_error("not a 64-bit ELF image");
    if (header.e_ident[EI_DATA] != ELFDATA2LSB) return make_error("not a little-endian ELF image");
    if (header.e_machine != EM_X86_64)
        return make_error("ELF machine {} is not x86-64", header.e_machine);
    if (header.e_type == ET_DYN)
        return make_error(
            "position-independent (ET_DYN) images are not supported; link at a fixed address");
    if (header.e_type != ET_EXEC)
        return make_error("ELF type {} is not an executable", header.e_type);
    if (header.e_phentsize != sizeof(Elf64_Phdr) || header.e_phnum == 0)
        return make_error("ELF image has no usable program headers");
    if (!range_within(header.e_phoff, std::uint64_t(header.e_phnum) * sizeof(Elf64_Phdr),
                      file.size()))
        return make_error("ELF program headers lie outside the file");

    ElfImage image;
    image.entry = header.e_entry;
    std::optional<std::uint64_t> hypercall_page;
    for (unsigned i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr ph{};
        copy_at(file, header.e_phoff + i * sizeof(Elf64_Phdr), ph);
        if (ph.p_type == PT_INTERP || ph.p_type == PT_DYNAMIC)
            return make_error("dynamically linked images are not supported; link statically");
        if (ph.p_type == PT_NOTE) {
            if (!range_within(ph.p_offset, ph.p_filesz, file.size()))
                return make_error("ELF note segment {} lies outside the file", i);
            if (auto page =
                    find_xen_note(file, ph.p_offset, ph.p_filesz, XEN_ELFNOTE_HYPERCALL_PAGE))
                hypercall_page = page;
            continue;
        }
        if (ph.p_type != PT_LOAD || ph.p_memsz == 0) continue;
        if (ph.p_filesz > ph.p_memsz)
            return make_error("segment {}: file size {:#x} exceeds memory size {:#x}", i,
                              ph.p_filesz, ph.p_memsz);
        if (!range_within(ph.p_offset, ph.p_filesz, file.size()))
            return make_error("segment {}: file range {:#x}+{:#x} lies outside the {}-byte file", i,
                              ph.p_offset, ph.p_filesz, file.size());
        if (ph.p_vaddr != ph.p_paddr)
            return make_error("segment {}: virtual {:#x} != physical {:#x}; Domus maps 1:1", i,
                              ph.p_vaddr, ph.p_paddr);
        auto end = checked_add(ph.p_paddr, ph.p_memsz);
        if (ph.p_paddr < load_base || !end || *end > load_limit) {
            if (end && *end > load_limit && ph.p_paddr < load_limit && ph.p_paddr >= load_base)
                return make_error(
                    "segment {} [{:#x}, {:#x}) overlaps the monitor's pages at {:#x}; give the "
                    "domain more memory",
                    i, ph.p_paddr, end.value_or(0), load_limit);
            return make_error("segment {} [{:#x}, {:#x}) lies outside guest memory [{:#x}, {:#x})",
                              i, ph.p_paddr, end.value_or(0), load_base, load_limit);
        }
        image.segments.push_back(
            {ph.p_paddr, ph.p_offset, ph.p_filesz, ph.p_memsz, (ph.p_flags & PF_X) != 0});
        image.image_end = std::max(image.image_end, *end);
    }
    if (image.segments.empty()) return make_error("ELF image has no loadable segments");

    auto sorted = image.segments;
    std::sort(sorted.begin(), sorted.end(),
              [](auto& a, auto& b) { return a.guest_addr < b.guest_addr; });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
        if (sorted[i - 1].guest_addr + sorted[i - 1].memory_size > sorted[i].guest_addr)
            return make_error("segments at {:#x} and {:#x} overlap", sorted[i - 1].guest_addr,
                              sorted[i].guest_addr);
    }

    auto inside = [&](std::uint64_t addr, std::uint64_t length, bool need_exec) {
        return std::any_of(image.segments.begin(), image.segments.end(), [&](const ElfSegment& s) {
            return addr >= s.guest_addr &&
                   range_within(addr - s.guest_addr, length, s.memory_size) &&
                   (!need_exec || s.executable);
        });
    };
    if (!inside(image.entry, 1, true))
        return make_error("entry point {:#x} is not inside an executable segment", image.entry);
    if (!hypercall_page)
        return make_error("image has no XEN_ELFNOTE_HYPERCALL_PAGE note (owner \"Xen\", type 2)");
    if (*hypercall_page % 4096 != 0 || !inside(*hypercall_page, 4096, false))
        return make_error("hypercall page {:#x} is not a page-aligned page inside the image",
                          *hypercall_page);
    image.hypercall_page = *hypercall_page;
    return image;
}

Result<void> load_elf(const ElfImage& image, std::span<const std::byte> file,
                      const GuestMemory& memory) {
    for (const auto& segment : image.segments) {
        auto target = memory.range(segment.guest_addr, segment.memory_size);
        if (!target)
            return make_error("segment at {:#x} does not fit guest memory", segment.guest_addr);
        std::memcpy(target->data(), file.data() + segment.file_offset, segment.file_size);
        std::memset(target->data() + segment.file_size, 0, segment.memory_size - segment.file_size);
    }
    return {};
}

namespace {

// How far into the file parse_elf() can look: the program headers and the PT_LOAD and
// PT_NOTE contents (section headers and debug sections, most of a debug build's file,
// are never read). From unchecked header values: it only sizes the read.
std::uint64_t extent_used(std::span<const std::byte> head, std::uint64_t file_size) {
    Elf64_Ehdr header;
    if (!copy_at(head, 0, header) || header.e_phentsize != sizeof(Elf64_Phdr)) return file_size;
    auto table_end =
        checked_add(header.e_phoff, std::uint64_t(header.e_phnum) * sizeof(Elf64_Phdr));
    if (!table_end) return file_size;
    std::uint64_t end = std::max<std::uint64_t>(*table_end, sizeof(header));
    for (unsigned i = 0; i < header.e_phnum; ++i) {
        Elf64_Phdr ph;
        if (!copy_at(head, header.e_phoff + i * sizeof(Elf64_Phdr), ph)) return file_size;
        if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
        auto segment_end = checked_add(ph.p_offset, ph.p_filesz);
        if (!segment_end) return file_size;
        end = std::max(end, *segment_end);
    }
    return std::min(end, file_size);
}

}  // namespace

Result<std::vector<std::byte>> read_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd) return errno_error(path);
    struct stat st;
    if (::fstat(fd.get(), &st) < 0) return errno_error(path);
    if (!S_ISREG(st.st_mode)) return make_error("{}: not a regular file", path);
    if (st.st_size > (256 << 20)) return make_error("{}: image larger than 256 MiB", path);
    // The headers first (the program headers follow the ELF header in every linker's
    // output), then the rest of what parse_elf() uses.
    std::uint64_t size = std::uint64_t(st.st_size);
    std::vector<std::byte> data(std::min<std::uint64_t>(size, 4096));
    if (auto got = storage::read_exact(fd.get(), data, 0); !got)
        return make_error("{}: {}", path, got.error().message);
    std::uint64_t used = std::max<std::uint64_t>(extent_used(data, size), data.size());
    std::size_t have = data.size();
    data.resize(std::size_t(used));
    if (auto got = storage::read_exact(fd.get(), std::span(data).subspan(have), have); !got)
        return make_error("{}: {}", path, got.error().message);
    return data;
}

}  // namespace domus::monitor
