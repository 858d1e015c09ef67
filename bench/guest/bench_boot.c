/* bench_boot: prints the TSC as main() starts. The host benchmark subtracts the TSC it
 * read before starting the monitor (the guest sees the host TSC here, no offset). */
#include <stdio.h>
#include <x86intrin.h>

int main(void) {
    unsigned long long tsc = __rdtsc();
    printf("main_tsc %llu\n", tsc);
    return 0;
}
