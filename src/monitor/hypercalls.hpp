// Hypercall dispatch: one entry per hypercall number (the table is in
// hypercalls/dispatch.cpp, the families in hypercalls/*.cpp), each decoding its
// registers through a typed view (hypercalls/args.hpp) and answering 0/positive or -XEN_E*.
#pragma once

#include <cstdint>

#include "monitor/hypercalls/args.hpp"
#include "monitor/hypercalls/host.hpp"

namespace domus::monitor {

// Runs on the calling vCPU's thread. Never throws, never allocates, never trusts an
// argument; an unknown number is counted (HypercallDomain::count_unknown_hypercall).
std::int64_t dispatch_hypercall(HypercallDomain& domain, HypercallVcpu& caller, std::uint32_t nr,
                                const HypercallRegs& regs) noexcept;

}  // namespace domus::monitor
