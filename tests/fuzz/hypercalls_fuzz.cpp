// Fuzz harness for monitor/hypercalls: sequences of hypercalls from the vCPUs of a fake
// domain (tests/monitor/hypercall_fakes.hpp: real guest memory, event channels, grant
// table), with argument structures written to guest RAM first.
//
// Input, one record a call, read in order:
//   u8 number (below 0xf0: one of the implemented numbers; else a raw u32 follows)
//   u8 vcpu (mod 4), u16 offset (mod 4096) and u8 length, then that many bytes written
//   to the scratch page + offset; then 5 arguments, each a u8 kind and its value:
//   0 small (u8), 1 scratch + u16, 2 raw u64, 3 an interesting address + s8.
#include <array>
#include <cstddef>
#include <cstdint>

#include "fuzz_input.hpp"
#include "monitor/hypercall_fakes.hpp"

#include <domus/abi/xen.h>

using namespace domus::monitor;
using domus::fuzz::FuzzInput;

namespace {

constexpr std::array<std::uint32_t, 12> kNumbers{
    __HYPERVISOR_memory_op,        __HYPERVISOR_set_timer_op,   __HYPERVISOR_xen_version,
    __HYPERVISOR_console_io,       __HYPERVISOR_grant_table_op, __HYPERVISOR_vcpu_op,
    __HYPERVISOR_set_segment_base, __HYPERVISOR_sched_op,       __HYPERVISOR_callback_op,
    __HYPERVISOR_event_channel_op, __HYPERVISOR_domus_notify,   0};

std::uint64_t argument(FuzzInput& in, const Layout& layout) {
    switch (in.u8() % 4) {
        case 0:
            return in.u8();
        case 1:
            return fakes::kScratch + in.u16();
        case 2:
            return in.u64();
        default: {
            const std::array<std::uint64_t, 6> places{
                kImageBase,          layout.shared_info, fakes::kHypercallPage,
                layout.monitor_area, layout.memory_size, fakes::kScratch + 4096};
            std::uint64_t base = places[in.u8() % places.size()];
            return base + std::uint64_t(std::int64_t(in.get<std::int8_t>()));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzInput in(data, size);
    fakes::FakeDomain domain(4);
    const Layout& layout = domain.layout();
    for (int call = 0; call < 64 && !in.empty(); ++call) {
        std::uint8_t pick = in.u8();
        std::uint32_t nr = pick < 0xf0 ? kNumbers[pick % kNumbers.size()] : in.u32();
        std::uint32_t vcpu = in.u8() % domain.nr_vcpus();
        std::uint16_t offset = in.u16() % 4096;
        auto bytes = in.bytes(in.u8());
        auto target = domain.memory().range(fakes::kScratch + offset, bytes.size());
        DOMUS_FUZZ_CHECK(target.has_value());
        std::memcpy(target->data(), bytes.data(), bytes.size());
        HypercallRegs regs{};
        regs.a1 = argument(in, layout);
        regs.a2 = argument(in, layout);
        regs.a3 = argument(in, layout);
        regs.a4 = argument(in, layout);
        regs.a5 = argument(in, layout);
        std::int64_t result = dispatch_hypercall(domain, *domain.vcpu(vcpu), nr, regs);
        // Errors are -XEN_E* codes: nothing else negative may reach the guest.
        DOMUS_FUZZ_CHECK(result >= -200);
    }
    return 0;
}
