/* Domus guest ABI: basic types, hypercall numbers, error codes and domain IDs.
 * Numbers follow Xen's public interface (xen/include/public/xen.h, errno.h). */
#ifndef DOMUS_ABI_XEN_H
#define DOMUS_ABI_XEN_H

#include <stdint.h>

#ifdef __cplusplus
#define DOMUS_ABI_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define DOMUS_ABI_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif

typedef uint16_t domid_t;
typedef uint32_t evtchn_port_t;
typedef uint64_t xen_pfn_t;
typedef uint64_t xen_ulong_t;

#define XEN_PAGE_SHIFT 12
#define XEN_PAGE_SIZE (1u << XEN_PAGE_SHIFT)

/* Hypercall numbers (__HYPERVISOR_*). Domus implements those marked [D]. */
#define __HYPERVISOR_memory_op 12        /* [D] memory.h */
#define __HYPERVISOR_set_timer_op 15     /* [D] (u64 deadline_ns) */
#define __HYPERVISOR_xen_version 17      /* [D] XENVER_* below */
#define __HYPERVISOR_console_io 18       /* [D] console.h */
#define __HYPERVISOR_grant_table_op 20   /* [D] grant_table.h (ABI 1.1) */
#define __HYPERVISOR_vcpu_op 24          /* [D] vcpu.h */
#define __HYPERVISOR_set_segment_base 25 /* [D] SEGBASE_* below */
#define __HYPERVISOR_sched_op 29         /* [D] sched.h */
#define __HYPERVISOR_callback_op 30      /* [D] CALLBACKOP_* below */
#define __HYPERVISOR_event_channel_op 32 /* [D] event_channel.h */
/* Xen reserves 48..55 for architecture-specific calls; Domus uses the first. */
#define __HYPERVISOR_arch_0 48
#define __HYPERVISOR_domus_notify __HYPERVISOR_arch_0 /* [D] (port): doorbell, see below */
#define DOMUS_NR_HYPERCALLS 64

/* Hypercall transport (Domus). The monitor fills the page named by the image's
 * XEN_ELFNOTE_HYPERCALL_PAGE note with one 32-byte stub per number: a guest calls
 * page + 32 * nr with arguments in RDI, RSI, RDX, R10, R8 and gets the result in RAX.
 * Today a stub writes the number to DOMUS_HYPERCALL_PORT; guests must not rely on it.
 * The domus_notify stub writes the event-channel port to DOMUS_DOORBELL_PORT: when a
 * backend listens on that port, KVM completes the write in the kernel (no exit to the
 * monitor); otherwise the monitor performs EVTCHNOP_send. It returns 0 always. */
#define DOMUS_HYPERCALL_STUB_SIZE 32
#define DOMUS_HYPERCALL_PORT 0xEC
#define DOMUS_DOORBELL_PORT 0xED

/* Error codes returned (negated) by hypercalls: Xen's public/errno.h, same as Linux. */
#define XEN_EPERM 1
#define XEN_ENOENT 2
#define XEN_ESRCH 3
#define XEN_EINTR 4
#define XEN_EIO 5
#define XEN_ENXIO 6
#define XEN_E2BIG 7
#define XEN_EBADF 9
#define XEN_EAGAIN 11
#define XEN_ENOMEM 12
#define XEN_EACCES 13
#define XEN_EFAULT 14
#define XEN_EBUSY 16
#define XEN_EEXIST 17
#define XEN_ENODEV 19
#define XEN_EINVAL 22
#define XEN_ENOSPC 28
#define XEN_ERANGE 34
#define XEN_ENOSYS 38
#define XEN_ETIME 62
#define XEN_EOPNOTSUPP 95

/* Domain IDs. */
#define DOMID_FIRST_RESERVED 0x7FF0
#define DOMID_SELF 0x7FF0
#define DOMID_INVALID 0x7FF4

/* xen_version(cmd, arg) */
#define XENVER_version 0      /* returns major << 16 | minor (Domus reports its ABI version) */
#define XENVER_extraversion 1 /* arg: char[16], filled with a NUL-terminated string */
#define XENVER_get_features 6 /* arg: struct xen_feature_info */
#define XENVER_pagesize 7     /* returns 4096 */

struct xen_feature_info {
    uint32_t submap_idx; /* in: which 32-bit block of features */
    uint32_t submap;     /* out: the feature bits of that block */
};
#define XENFEAT_auto_translated_physmap 2 /* guest-physical == what the guest names */
#define XENFEAT_supervisor_mode_kernel 3  /* reported 0: the kernel runs at CPL3 */

/* set_segment_base(which, base): Domus guests normally use wrfsbase/wrgsbase. */
#define SEGBASE_FS 0
#define SEGBASE_GS_USER 1

/* callback_op(CALLBACKOP_register, struct callback_register *) */
#define CALLBACKOP_register 0
#define CALLBACKOP_unregister 1
#define CALLBACKTYPE_event 0
struct callback_register {
    uint16_t type;  /* CALLBACKTYPE_event only */
    uint16_t flags; /* must be 0 */
    uint32_t _pad;
    uint64_t address; /* guest virtual address of the upcall entry */
};
DOMUS_ABI_STATIC_ASSERT(sizeof(struct callback_register) == 16, "callback_register layout");

/* Upcall frame (Domus). No interrupt reaches a CPL3 kernel, so the monitor delivers an
 * event upcall by building this frame on the interrupted stack, 128 bytes below RSP
 * (the red zone stays intact), setting vcpu_info.evtchn_upcall_mask = 1 and resuming
 * the vCPU at the registered callback with RSP pointing at the frame. All other
 * registers hold the interrupted values. The entry restores them and returns with
 * `popfq; ret $128`, which leaves RSP exactly as it was interrupted. */
struct domus_upcall_frame {
    uint64_t rflags; /* at RSP on entry */
    uint64_t rip;    /* at RSP + 8; RSP + 16 + 128 is the interrupted RSP */
};
#define DOMUS_UPCALL_RED_ZONE 128

#endif
