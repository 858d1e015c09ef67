/* Boot entry of vCPU 0 and of secondary vCPUs, the hypercall page and the Xen ELF note
 * that tells the monitor where to put it. */
/* XEN_ELFNOTE_HYPERCALL_PAGE, from <domus/abi/start_info.h> (a C header). */
#define XEN_ELFNOTE_HYPERCALL_PAGE 2

    .section .note.Xen, "a", @note
    .balign 4
    .long 4                         /* namesz: "Xen\0" */
    .long 8                         /* descsz */
    .long XEN_ELFNOTE_HYPERCALL_PAGE
    .asciz "Xen"
    .balign 4
    .quad hypercall_page

    /* Filled by the monitor with 32-byte stubs; int3 until then, so that a call
     * through a stub the monitor did not fill faults loudly. */
    .section .text.hypercall_page, "ax", @progbits
    .balign 4096
    .globl hypercall_page
    .type hypercall_page, @object
hypercall_page:
    .fill 4096, 1, 0xcc
    .size hypercall_page, 4096

    .section .text.boot, "ax", @progbits
    .globl _start
    .type _start, @function
/* vCPU 0: RSI = &start_info, upcalls masked, CPL3. Move onto the kernel's own boot
 * stack and enter C++. .bss is zero already (the boot contract in start_info.h):
 * clearing it would touch each of its ~30 pages, a nested-paging fault apiece. */
_start:
    cld
    lea domus_boot_stack_top(%rip), %rsp
    xor %ebp, %ebp
    mov %rsi, %rdi
    call domus_start_kernel
    ud2
    .size _start, . - _start

    .globl domus_secondary_entry
    .type domus_secondary_entry, @function
/* Secondary vCPUs: RDI = its struct Cpu, RSP = its idle stack, GS base set. */
domus_secondary_entry:
    cld
    xor %ebp, %ebp
    and $-16, %rsp
    call domus_secondary_start
    ud2
    .size domus_secondary_entry, . - domus_secondary_entry

    .bss
    .balign 64
domus_boot_stack:
    .skip 65536
domus_boot_stack_top:

    .section .note.GNU-stack, "", @progbits
