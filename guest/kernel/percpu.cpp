// Per-vCPU areas: the GS base and the vcpu_info registration (see percpu.hpp).
#include "percpu.hpp"

#include "arch.hpp"
#include "boot_info.hpp"
#include "hypercall.hpp"
#include "shutdown.hpp"

#include <stddef.h>
#include <string.h>

namespace domus::guest {

static_assert(offsetof(Cpu, self) == CPU_SELF);
static_assert(offsetof(Cpu, current) == CPU_CURRENT);
static_assert(offsetof(Cpu, vi) == CPU_VCPU_INFO);
static_assert(offsetof(Cpu, vi.evtchn_upcall_pending) == CPU_UPCALL_PENDING);
static_assert(offsetof(Cpu, vi.evtchn_upcall_mask) == CPU_UPCALL_MASK);

Cpu* cpus[DOMUS_MAX_VCPUS];
unsigned nr_cpus_online;
uint64_t cpus_online_mask;

void set_gs_base(uint64_t base)
{
    if (boot.flags & DOMUS_BOOT_FSGSBASE) {
        wrgsbase(base);
        return;
    }
    long rc = hyp_set_segment_base(SEGBASE_GS_USER, base);
    if (rc < 0)
        panic("set_segment_base(GS) failed: %ld", rc);
}

void register_vcpu_info(Cpu* cpu)
{
    auto addr = reinterpret_cast<uint64_t>(&cpu->vi);
    vcpu_register_vcpu_info info {};
    info.mfn = addr >> XEN_PAGE_SHIFT;
    info.offset = uint32_t(addr & (XEN_PAGE_SIZE - 1));
    long rc = hyp_vcpu_op(VCPUOP_register_vcpu_info, cpu->id, &info);
    if (rc < 0)
        panic("VCPUOP_register_vcpu_info(vCPU %u) failed: %ld", cpu->id, rc);
}

void init_percpu_boot(Cpu* cpu0)
{
    memset(static_cast<void*>(cpu0), 0, sizeof *cpu0);
    cpu0->self = cpu0;
    cpu0->id = 0;
    init_thread_idle(&cpu0->idle_thread, 0);
    cpu0->current = &cpu0->idle_thread;
    // Same state as the legacy slot (upcalls masked) until the monitor takes this copy.
    cpu0->vi = boot.shared->vcpu_info[0];
    cpu0->vi.evtchn_upcall_mask = 1;
    cpus[0] = cpu0;
    set_gs_base(reinterpret_cast<uint64_t>(cpu0));
    register_vcpu_info(cpu0);
    cpu0->online = 1;
    nr_cpus_online = 1;
    cpus_online_mask = 1;
}

} // namespace domus::guest
