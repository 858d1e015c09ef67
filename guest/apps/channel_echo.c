/* channel_echo: opens a PV channel and answers every line it receives with the line
 * upper-cased. It first sends "channel_echo ready\n", so the host sees guest -> host bytes
 * before it sends anything. After loops=N lines (default 3) it prints
 * "channel_echo: PASS <N> lines" on the console and exits 0.
 * Command line: name=NAME (default org.domus.echo), loops=N. */
#include <domus/channel.h>
#include <domus/guest.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int send_all(int ch, const char* text, size_t len)
{
    long n = channel_write(ch, text, len);
    if (n != (long)len) {
        printf("channel_echo: FAIL write returned %ld\n", n);
        return -1;
    }
    return 0;
}

int main(void)
{
    char name[72] = "org.domus.echo";
    char value[32];
    domus_cmdline_get("name", name, sizeof name);
    long loops = 3;
    if (domus_cmdline_get("loops", value, sizeof value))
        loops = strtol(value, NULL, 10);

    int ch = channel_open(name);
    if (ch < 0) {
        printf("channel_echo: FAIL cannot open channel %s (%d)\n", name, ch);
        return 1;
    }
    printf("channel_echo: channel %s open\n", name);
    fflush(stdout);
    static const char ready[] = "channel_echo ready\n";
    if (send_all(ch, ready, sizeof ready - 1) < 0)
        return 1;

    char line[1024];
    size_t used = 0;
    long lines = 0;
    while (lines < loops) {
        char buf[256];
        long n = channel_read(ch, buf, sizeof buf);
        if (n <= 0) {
            printf("channel_echo: FAIL read returned %ld\n", n);
            return 1;
        }
        for (long i = 0; i < n && lines < loops; ++i) {
            char c = buf[i];
            if (used < sizeof line)
                line[used++] = (char)toupper((unsigned char)c);
            if (c != '\n' && used < sizeof line)
                continue;
            if (send_all(ch, line, used) < 0)
                return 1;
            used = 0;
            ++lines;
        }
    }
    printf("channel_echo: PASS %ld lines\n", lines);
    return 0;
}
