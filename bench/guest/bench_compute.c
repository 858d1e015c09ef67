/* bench_compute: runs bench/compute_kernel.c in the guest and reports its time.
 * iterations=N on the command line (default 20000). Prints `compute_seconds <v> s` and
 * `compute_checksum <v> sum` (same value as the native run proves the same work). */
#include <domus/guest.h>

#include <stdio.h>
#include <stdlib.h>

double compute_kernel(unsigned iterations);

int main(void) {
    char value[32];
    unsigned iterations = 20000;
    if (domus_cmdline_get("iterations", value, sizeof value))
        iterations = (unsigned)strtoul(value, NULL, 10);
    compute_kernel(1); /* warm up caches and pages */
    uint64_t t0 = domus_monotonic_ns();
    double checksum = compute_kernel(iterations);
    uint64_t t1 = domus_monotonic_ns();
    printf("compute_seconds %.6f s\n", (double)(t1 - t0) / 1e9);
    printf("compute_checksum %.6f sum\n", checksum);
    return 0;
}
