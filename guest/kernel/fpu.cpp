// Extended FPU state for upcalls: the XCR0 mask and the XSAVE area size the upcall
// entry uses to save SSE/AVX/AVX-512 state of the interrupted thread.
#include "arch.hpp"

#include <stdint.h>

extern "C" {
uint64_t domus_xcr0;
uint64_t domus_xsave_size;
}

namespace domus::guest {

void init_fpu()
{
    domus_xcr0 = xgetbv(0);
    uint32_t a, b, c, d;
    cpuid(0xd, 0, a, b, c, d);
    // EBX: size for the features in XCR0; ECX: for all the CPU supports. CPUID is not
    // virtualised here, so take the larger; plus room for the 64-byte alignment.
    uint64_t size = b > c ? b : c;
    if (size < 576)
        size = 576 + 256; // legacy area + header, and AVX if CPUID said nothing useful
    domus_xsave_size = (size + 63 + 64) & ~uint64_t(63);
}

} // namespace domus::guest
