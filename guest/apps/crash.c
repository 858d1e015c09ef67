/* crash: ways for a guest to end badly or abruptly, chosen by mode= on the command line:
 *   mode=null    dereference NULL: an unhandled fault, i.e. a triple fault (default)
 *   mode=panic   the kernel's panic path (message, then SHUTDOWN_crash)
 *   mode=reboot  SHUTDOWN_reboot
 *   mode=exit:N  poweroff with exit code N */
#include <domus/guest.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
    char mode[32] = "null";
    domus_cmdline_get("mode", mode, sizeof mode);
    printf("crash: mode=%s\n", mode);
    fflush(stdout);
    if (strcmp(mode, "panic") == 0)
        domus_panic("crash app asked for a panic (%d)", 42);
    if (strcmp(mode, "reboot") == 0)
        domus_reboot();
    if (strncmp(mode, "exit:", 5) == 0)
        domus_poweroff(atoi(mode + 5));
    volatile int* volatile nowhere = NULL;
    *nowhere = 0xdead;
    printf("crash: still alive after a NULL write?\n");
    return 3;
}
