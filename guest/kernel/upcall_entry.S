/* Event upcall entry. The monitor pushed struct domus_upcall_frame {rflags, rip} 128
 * bytes below the interrupted RSP, set our evtchn_upcall_mask and jumped here with every
 * other register live. Save all GPRs and the extended state (xsave with the XCR0 mask
 * into a 64-byte aligned area), run the handler, unmask and re-check pending as Xen
 * guests do, restore, and return with `popfq; ret $128`. */
#include "percpu_offsets.h"

#define XSAVE_HEADER 512

    .text
    .globl domus_upcall_entry
    .type domus_upcall_entry, @function
domus_upcall_entry:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    cld
    mov %rsp, %rbp                  /* rbp: saved GPRs, frame above them */
    sub domus_xsave_size(%rip), %rsp
    and $-64, %rsp
    /* XRSTOR faults on a header with reserved bits set: clear it before XSAVE. */
    xor %eax, %eax
    mov %rax, XSAVE_HEADER+0(%rsp)
    mov %rax, XSAVE_HEADER+8(%rsp)
    mov %rax, XSAVE_HEADER+16(%rsp)
    mov %rax, XSAVE_HEADER+24(%rsp)
    mov %rax, XSAVE_HEADER+32(%rsp)
    mov %rax, XSAVE_HEADER+40(%rsp)
    mov %rax, XSAVE_HEADER+48(%rsp)
    mov %rax, XSAVE_HEADER+56(%rsp)
    mov domus_xcr0(%rip), %eax
    mov domus_xcr0+4(%rip), %edx
    xsave64 (%rsp)
    mov %rsp, %rbx                  /* rbx: xsave area (callee-saved) */
1:
    mov %rbp, %rdi
    call domus_upcall
    /* Unmask, then look again: an event that arrived while masked set only
     * evtchn_upcall_pending and no new upcall will come for it. GS-relative
     * accesses, because the handler may have moved this thread to another vCPU. */
    movb $0, %gs:CPU_UPCALL_MASK
    mfence                          /* order the unmask before the pending load */
    cmpb $0, %gs:CPU_UPCALL_PENDING
    je 2f
    movb $1, %gs:CPU_UPCALL_MASK
    jmp 1b
2:
    mov domus_xcr0(%rip), %eax
    mov domus_xcr0+4(%rip), %edx
    xrstor64 (%rbx)
    mov %rbp, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    popfq
    ret $128
    .size domus_upcall_entry, . - domus_upcall_entry

    .section .note.GNU-stack, "", @progbits
