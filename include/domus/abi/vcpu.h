/* Domus guest ABI: vcpu_op(cmd, vcpuid, arg) (hypercall 24), after xen/include/public/vcpu.h.
 * VCPUOP_initialise takes a Domus context: a CPL3 kernel has no segments or traps to set. */
#ifndef DOMUS_ABI_VCPU_H
#define DOMUS_ABI_VCPU_H

#include "xen.h"

#define DOMUS_MAX_VCPUS 64

#define VCPUOP_initialise 0 /* struct domus_vcpu_context; the vCPU must be down */
#define VCPUOP_up 1
#define VCPUOP_down 2 /* the caller parks on return; another vCPU before its next entry */
#define VCPUOP_is_up 3
#define VCPUOP_set_singleshot_timer 8
#define VCPUOP_stop_singleshot_timer 9
#define VCPUOP_register_vcpu_info 10

/* Start state of a secondary vCPU: CPL3, the boot page tables, upcalls masked. */
struct domus_vcpu_context {
    uint64_t rip;
    uint64_t rsp;
    uint64_t rdi; /* first argument to the entry function */
    uint64_t fs_base;
    uint64_t gs_base;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct domus_vcpu_context) == 40, "layout");

struct vcpu_set_singleshot_timer {
    uint64_t timeout_abs_ns;
    uint32_t flags;
    uint32_t _pad;
};

struct vcpu_register_vcpu_info {
    uint64_t mfn;    /* frame holding the new vcpu_info */
    uint32_t offset; /* byte offset in that frame; the 64 bytes must not cross it */
    uint32_t rsvd;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct vcpu_register_vcpu_info) == 16, "layout");

#endif
