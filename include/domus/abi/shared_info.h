/* Domus guest ABI: the shared_info page, per-vCPU vcpu_info and the time info.
 * Layouts are Xen's x86_64 ones (xen/include/public/xen.h, arch-x86/xen.h). */
#ifndef DOMUS_ABI_SHARED_INFO_H
#define DOMUS_ABI_SHARED_INFO_H

#include "xen.h"

/* Per-vCPU clock. The monitor writes it with a seqlock: version odd while updating.
 * now_ns = system_time + (((tsc - tsc_timestamp) << or >> tsc_shift) * mul) >> 32.
 * system_time counts nanoseconds since the domain was created and never goes back,
 * also across save/restore; guests must not assume a raw TSC relation. */
struct vcpu_time_info {
    uint32_t version;
    uint32_t pad0;
    uint64_t tsc_timestamp;
    uint64_t system_time;
    uint32_t tsc_to_system_mul; /* 0.32 fixed point */
    int8_t tsc_shift;
    uint8_t flags; /* XEN_PVCLOCK_TSC_STABLE_BIT */
    uint8_t pad1[2];
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct vcpu_time_info) == 32, "vcpu_time_info layout");
#define XEN_PVCLOCK_TSC_STABLE_BIT (1 << 0)

struct arch_vcpu_info {
    uint64_t cr2;
    uint64_t pad;
};

/* Event delivery state of one vCPU. The guest writes evtchn_upcall_mask (1 = no
 * upcalls) with plain stores; the monitor sets evtchn_upcall_pending and bits of
 * evtchn_pending_sel with atomic operations and the guest clears them atomically. */
struct vcpu_info {
    uint8_t evtchn_upcall_pending;
    uint8_t evtchn_upcall_mask;
    uint8_t _pad[6];
    uint64_t evtchn_pending_sel; /* one bit per 64-bit word of evtchn_pending */
    struct arch_vcpu_info arch;
    struct vcpu_time_info time;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct vcpu_info) == 64, "vcpu_info layout");

#define XEN_LEGACY_MAX_VCPUS 32
#define EVTCHN_2L_NR_CHANNELS 4096 /* 64 words x 64 bits */

struct arch_shared_info {
    uint64_t max_pfn;
    uint64_t pfn_to_mfn_frame_list_list;
    uint64_t nmi_reason;
    uint64_t p2m_cr3;
    uint64_t p2m_vaddr;
    uint64_t p2m_generation;
};

/* One page, at start_info.shared_info (a guest-physical address = virtual address).
 * vCPUs 32..63 have no slot here and must move their vcpu_info with
 * VCPUOP_register_vcpu_info before VCPUOP_up. */
struct shared_info {
    struct vcpu_info vcpu_info[XEN_LEGACY_MAX_VCPUS];
    uint64_t evtchn_pending[64]; /* set by the monitor, cleared by the guest */
    uint64_t evtchn_mask[64];    /* owned by the guest; 1 = do not deliver */
    uint32_t wc_version;         /* wall clock at system_time 0, seqlock as above */
    uint32_t wc_sec;
    uint32_t wc_nsec;
    uint32_t wc_sec_hi;
    struct arch_shared_info arch;
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct shared_info) == 3136, "shared_info layout");

#endif
