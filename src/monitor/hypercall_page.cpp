// Hypercall stubs. Numbers the monitor serves trap with a port write (one exit);
// domus_notify writes the event port to the doorbell, which KVM may complete in the
// kernel; every other slot answers -ENOSYS without leaving the guest.
#include "monitor/hypercall_page.hpp"

#include <cstdint>
#include <cstring>
#include <initializer_list>

#include <domus/abi/xen.h>

namespace domus::monitor {
namespace {

void put(std::span<std::byte> stub, std::initializer_list<std::uint8_t> code) {
    std::size_t i = 0;
    for (std::uint8_t byte : code)
        stub[i++] = std::byte(byte);
}

}  // namespace

void fill_hypercall_page(std::span<std::byte> page) noexcept {
    constexpr std::size_t kStubs = XEN_PAGE_SIZE / DOMUS_HYPERCALL_STUB_SIZE;
    std::memset(page.data(), 0xCC, page.size());  // int3 between stubs
    for (std::uint32_t nr = 0; nr < kStubs; ++nr) {
        auto stub = page.subspan(nr * DOMUS_HYPERCALL_STUB_SIZE, DOMUS_HYPERCALL_STUB_SIZE);
        if (nr == __HYPERVISOR_domus_notify) {
            // mov %edi,%eax; out %eax,$DOORBELL; xor %eax,%eax; ret
            put(stub, {0x89, 0xF8, 0xE7, DOMUS_DOORBELL_PORT, 0x31, 0xC0, 0xC3});
        } else if (nr < DOMUS_NR_HYPERCALLS) {
            // mov $nr,%eax; out %eax,$HYPERCALL; ret
            put(stub, {0xB8, std::uint8_t(nr), 0x00, 0x00, 0x00, 0xE7, DOMUS_HYPERCALL_PORT, 0xC3});
        } else {
            // mov $-ENOSYS,%rax; ret
            put(stub, {0x48, 0xC7, 0xC0, std::uint8_t(-XEN_ENOSYS), 0xFF, 0xFF, 0xFF, 0xC3});
        }
    }
}

}  // namespace domus::monitor
