/* bench_boot: prints the TSC as main() starts, then the kernel's own boot marks. The host
 * benchmark subtracts the TSC it read before starting the monitor (the guest sees the
 * host TSC here, no offset). */
#include <domus/guest.h>

#include <stdio.h>
#include <x86intrin.h>

int main(void) {
    unsigned long long tsc = __rdtsc();
    struct domus_boot_marks marks;
    domus_get_boot_marks(&marks);
    printf("main_tsc %llu\n", tsc);
    printf("kernel_entry_tsc %llu\nkernel_ready_tsc %llu\nmain_call_tsc %llu\n",
           (unsigned long long)marks.kernel_entry_tsc, (unsigned long long)marks.kernel_ready_tsc,
           (unsigned long long)marks.main_call_tsc);
    return 0;
}
