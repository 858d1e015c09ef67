/* Thread context switch (callee-saved registers, MXCSR and the x87 control word) and
 * the first frame of a new thread. Always called with upcalls masked. */

    .text
    .globl domus_switch_context
    .type domus_switch_context, @function
/* void domus_switch_context(void **save_sp, void *next_sp) */
domus_switch_context:
    push %rbp
    push %rbx
    push %r12
    push %r13
    push %r14
    push %r15
    sub $16, %rsp
    stmxcsr 8(%rsp)
    fnstcw (%rsp)
    mov %rsp, (%rdi)
    mov %rsi, %rsp
    ldmxcsr 8(%rsp)
    fldcw (%rsp)
    add $16, %rsp
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbx
    pop %rbp
    ret
    .size domus_switch_context, . - domus_switch_context

    .globl domus_thread_entry
    .type domus_thread_entry, @function
/* First return target of a new thread; RBX = its struct domus_thread. */
domus_thread_entry:
    mov %rbx, %rdi
    call domus_thread_start
    ud2
    .size domus_thread_entry, . - domus_thread_entry

    .section .note.GNU-stack, "", @progbits
