// GuestMemory: memfd-backed guest RAM (memfd so that ballooning can punch holes and
// save/restore can hand the pages to another process).
#include "monitor/guest_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace domus::monitor {

Result<GuestMemory> GuestMemory::create(std::uint64_t size, std::uint64_t guard) {
    Fd fd(::memfd_create("domus-guest-ram", MFD_CLOEXEC));
    if (!fd) return errno_error("memfd_create");
    if (::ftruncate(fd.get(), off_t(size)) < 0) return errno_error("ftruncate guest RAM");
    void* addr =
        ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd.get(), 0);
    if (addr == MAP_FAILED) return errno_error("mmap guest RAM");
    return GuestMemory(std::move(fd), Mapping(addr, size), guard);
}

bool GuestMemory::back(std::uint64_t gpa, std::uint64_t length) const noexcept {
    auto bytes = range(gpa, length);
    return bytes && ::madvise(bytes->data(), bytes->size(), MADV_POPULATE_WRITE) == 0;
}

}  // namespace domus::monitor
