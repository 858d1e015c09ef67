// Local "interrupt" control: the upcall mask of the vCPU running the caller. Each access
// is one GS-relative instruction, so it cannot hit another vCPU's mask even if the
// thread migrates between two calls. Context switches always happen with the mask set.
#pragma once

#include "percpu_offsets.h"

#include <stdint.h>

extern "C" void domus_upcall(void* regs);

namespace domus::guest {

// Sets the mask; returns the previous value (0 = upcalls were enabled).
inline uint8_t irq_save()
{
    uint8_t v = 1;
    asm volatile("xchgb %0, %%gs:%c1" : "+q"(v) : "i"(CPU_UPCALL_MASK) : "memory");
    return v;
}

inline void irq_disable() { asm volatile("movb $1, %%gs:%c0" ::"i"(CPU_UPCALL_MASK) : "memory"); }

inline bool irq_upcall_pending()
{
    uint8_t v;
    asm volatile("movb %%gs:%c1, %0" : "=q"(v) : "i"(CPU_UPCALL_PENDING) : "memory");
    return v != 0;
}

// Clears the mask. An event that arrived while masked raised only upcall_pending, so
// it is handled here in software, the way the upcall entry would.
void irq_enable();

inline void irq_restore(uint8_t flags)
{
    if (flags == 0)
        irq_enable();
}

} // namespace domus::guest
