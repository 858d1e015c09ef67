/* hello: greets, shows its command line, sleeps ~50 ms and exits 0.
 * Command line: loops=N prints N greeting lines (default 1); sleep_ms=N sleeps N ms. */
#include <domus/guest.h>

#include <stdio.h>
#include <stdlib.h>

int main(int argc, char** argv)
{
    (void)argc, (void)argv;
    char value[32];
    long loops = 1;
    if (domus_cmdline_get("loops", value, sizeof value))
        loops = strtol(value, NULL, 10);
    for (long i = 0; i < loops; ++i)
        printf("Hello from Domus!\n");
    printf("cmdline: %s\n", domus_cmdline());
    fflush(stdout);
    long sleep_ms = 50;
    if (domus_cmdline_get("sleep_ms", value, sizeof value))
        sleep_ms = strtol(value, NULL, 10);
    if (sleep_ms > 0)
        domus_sleep_ms(sleep_ms);
    return 0;
}
