// Hypercall dispatch: one entry per hypercall number, each decoding its arguments
// through a typed copy of guest memory and answering 0/positive or -XEN_E*.
#pragma once

#include <cstdint>

namespace domus::monitor {

class Domain;
class VcpuRunner;

// Arguments in Xen's x86-64 order: RDI, RSI, RDX, R10, R8.
struct HypercallArgs {
    std::uint64_t a1, a2, a3, a4, a5;
};

// Runs on the calling vCPU's thread. Never throws, never trusts an argument.
std::int64_t dispatch_hypercall(Domain& domain, VcpuRunner& vcpu, std::uint32_t nr,
                                const HypercallArgs& args) noexcept;

}  // namespace domus::monitor
