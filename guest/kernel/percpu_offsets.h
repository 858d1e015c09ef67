/* Offsets into struct Cpu (percpu.hpp) used by the assembly files; percpu.cpp checks
 * them with static_assert. The per-vCPU area is addressed through the GS base. */
#ifndef DOMUS_GUEST_PERCPU_OFFSETS_H
#define DOMUS_GUEST_PERCPU_OFFSETS_H

#define CPU_SELF 0 /* Cpu *self */
#define CPU_CURRENT 8 /* domus_thread *current */
#define CPU_VCPU_INFO 64 /* struct vcpu_info, registered with the monitor */
#define CPU_UPCALL_PENDING (CPU_VCPU_INFO + 0)
#define CPU_UPCALL_MASK (CPU_VCPU_INFO + 1)

#endif
