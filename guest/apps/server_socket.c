/* The sample servers' port and bound socket (server_socket.h). */
#include "server_socket.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int server_port(int argc, char** argv, int fallback)
{
    for (int i = 1; i < argc; ++i)
        if (argv[i][0] && strspn(argv[i], "0123456789") == strlen(argv[i]))
            return atoi(argv[i]);
    return fallback;
}

int server_socket(int type, int port)
{
    int s = socket(AF_INET, type, 0);
    if (s < 0)
        return -1;
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr.s_addr = htonl(INADDR_ANY);
    if (bind(s, (struct sockaddr*)&addr, sizeof addr) < 0) {
        int saved = errno;
        close(s);
        errno = saved;
        return -1;
    }
    return s;
}

int send_all(int s, const void* data, size_t len)
{
    const char* p = data;
    while (len) {
        ssize_t n = send(s, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int send_pattern(int s, unsigned long long count)
{
    static char pattern[16384];
    if (!pattern[0])
        for (size_t i = 0; i < sizeof pattern; ++i)
            pattern[i] = (char)('a' + i % 26);
    unsigned long long sent = 0;
    while (sent < count) {
        size_t offset = (size_t)(sent % 26);
        size_t chunk = sizeof pattern - 26;
        if (chunk > count - sent)
            chunk = (size_t)(count - sent);
        if (send_all(s, pattern + offset, chunk) < 0)
            return -1;
        sent += chunk;
    }
    return 0;
}
