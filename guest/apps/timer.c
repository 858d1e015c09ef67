/* timer: measures how long a 50 ms sleep takes, as the guest's clock sees it. */
#include <domus/guest.h>

#include <stdio.h>

int main(void)
{
    uint64_t start = domus_monotonic_ns();
    domus_sleep_ms(50);
    uint64_t elapsed = domus_monotonic_ns() - start;
    printf("sleep_ms %.3f ms\n", (double)elapsed / 1e6);
    return 0;
}
