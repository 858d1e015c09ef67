// Fuzz harness for monitor/elf_loader: any file as a guest kernel image, parsed against a
// real layout and, when accepted, loaded into real guest memory.
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz_input.hpp"
#include "monitor/elf_loader.hpp"
#include "monitor/guest_memory.hpp"
#include "monitor/layout.hpp"

using namespace domus::monitor;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const Layout layout = Layout::compute(16ull << 20).value();
    static GuestMemory memory = GuestMemory::create(layout.memory_size, kImageBase).value();

    std::span<const std::byte> file(reinterpret_cast<const std::byte*>(data), size);
    auto image = parse_elf(file, kImageBase, layout.monitor_area);
    if (!image) return 0;
    // What the parser accepted must fit the window it was given, with its page inside.
    DOMUS_FUZZ_CHECK(image->entry >= kImageBase && image->entry < layout.monitor_area);
    DOMUS_FUZZ_CHECK(image->image_end <= layout.monitor_area);
    DOMUS_FUZZ_CHECK(image->hypercall_page >= kImageBase &&
                     image->hypercall_page < layout.monitor_area);
    for (const ElfSegment& segment : image->segments) {
        DOMUS_FUZZ_CHECK(segment.file_size <= segment.memory_size);
        DOMUS_FUZZ_CHECK(segment.file_offset <= size &&
                         segment.file_size <= size - segment.file_offset);
        DOMUS_FUZZ_CHECK(segment.guest_addr >= kImageBase);
    }
    DOMUS_FUZZ_CHECK(load_elf(*image, file, memory).ok());
    return 0;
}
