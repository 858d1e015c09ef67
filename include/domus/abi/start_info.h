/* Domus guest ABI: start_info, the page RSI points at when vCPU 0 starts.
 * The first 1168 bytes are Xen's x86_64 PV start_info; Domus appends its own block. */
#ifndef DOMUS_ABI_START_INFO_H
#define DOMUS_ABI_START_INFO_H

#include "xen.h"

#define MAX_GUEST_CMDLINE 1024
#define DOMUS_START_INFO_MAGIC \
    "domus-1.0-x86_64" /* fixed for ABI 1.x; the minor is in domus.abi_version */

/* Boot contract (Domus):
 *  - guest-physical memory is mapped 1:1 at virtual 0 with 2 MiB user pages, except the
 *    first 2 MiB, which stay unmapped so that NULL dereferences fault;
 *  - vCPU 0 starts at the ELF entry at CPL3, RSI = &start_info, RSP at the top of a
 *    16 KiB boot stack inside the monitor area, RFLAGS.IOPL = 3, upcalls masked;
 *  - CR4.OSFXSR/OSXSAVE are on and XCR0 enables every state the host offers, so
 *    SSE/AVX/AVX-512 work; CR4.FSGSBASE is on when the CPU has it (domus.flags);
 *  - the monitor area (start_info, shared_info, rings, page tables, boot stack) sits
 *    at the top of memory; the guest may use [heap_start, heap_end) freely;
 *  - each PT_LOAD segment is zero-filled from p_filesz to p_memsz, and all other
 *    memory reads as zero: a kernel need not clear its .bss;
 *  - the console's and the store's event channels notify vCPU 0, at boot and after a
 *    resume, until the guest binds them elsewhere (EVTCHNOP_bind_vcpu);
 *  - (informative) the last DOMUS_BOOT_BACKED_BYTES below heap_end have host memory
 *    behind them at entry: a page allocator that takes its first pages from heap_end
 *    down starts without nested-paging first-touch faults (~20 us a page on PVM). */
struct domus_boot_info {
    uint32_t abi_version; /* DOMUS_ABI_VERSION of the monitor */
    uint32_t nr_vcpus;    /* vCPUs the domain may bring up (1..64) */
    uint64_t heap_start;  /* first free byte after the image, 2 MiB aligned */
    uint64_t heap_end;    /* start of the monitor area */
    uint64_t tsc_khz;     /* informative; time comes from vcpu_time_info */
    uint32_t flags;       /* DOMUS_BOOT_* */
    uint32_t _pad;
};
#define DOMUS_BOOT_BACKED_BYTES (64u << 10)
#define DOMUS_BOOT_FSGSBASE (1u << 0)      /* wrfsbase/wrgsbase may be used */
#define DOMUS_BOOT_EMULATED_DISK (1u << 1) /* an emulated ATA disk (emulated_disk.h) */

struct start_info {
    char magic[32];       /* DOMUS_START_INFO_MAGIC */
    uint64_t nr_pages;    /* guest memory in 4 KiB pages */
    uint64_t shared_info; /* guest-physical address of struct shared_info */
    uint32_t flags;       /* SIF_* */
    uint32_t _pad0;
    xen_pfn_t store_mfn; /* frame of the xenstore ring page (0: none yet) */
    uint32_t store_evtchn;
    uint32_t _pad1;
    struct {
        xen_pfn_t mfn;   /* frame of the console ring page (console.h) */
        uint32_t evtchn; /* its event channel; the backend is the monitor */
        uint32_t _pad;
    } console;
    uint64_t pt_base; /* virtual address of the top-level page table */
    uint64_t nr_pt_frames;
    uint64_t mfn_list; /* 0: auto-translated, no p2m list */
    uint64_t mod_start;
    uint64_t mod_len;
    char cmd_line[MAX_GUEST_CMDLINE]; /* NUL-terminated */
    uint64_t first_p2m_pfn;
    uint64_t nr_p2m_frames;
    struct domus_boot_info domus; /* Domus extension, offset 1168 */
};
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct start_info, store_mfn) == 56,
                        "start_info layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct start_info, console) == 72, "start_info layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct start_info, pt_base) == 88, "start_info layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct start_info, cmd_line) == 128,
                        "start_info layout");
DOMUS_ABI_STATIC_ASSERT(__builtin_offsetof(struct start_info, domus) == 1168, "start_info layout");

#define SIF_PRIVILEGED (1 << 0)
#define SIF_INITDOMAIN (1 << 1)

/* PV kernel ELF notes (owner "Xen"). Domus requires HYPERCALL_PAGE: the virtual address
 * of a page-aligned, page-sized area inside a loaded segment that the monitor fills. */
#define XEN_ELFNOTE_ENTRY 1
#define XEN_ELFNOTE_HYPERCALL_PAGE 2

#endif
