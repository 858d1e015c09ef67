/* echo: the echo service (RFC 862) on BSD sockets, TCP and UDP, port 7 or the first
 * argument. One thread per TCP connection, one for UDP. Prints "echo: ready on <port>". */
#include <netinet/in.h>
#include <sys/socket.h>

#include <domus/guest.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int bound_socket(int type, int port)
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
        close(s);
        return -1;
    }
    return s;
}

static void udp_echo(void* arg)
{
    int s = (int)(intptr_t)arg;
    static char buf[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr*)&from, &len);
        if (n >= 0)
            sendto(s, buf, (size_t)n, 0, (struct sockaddr*)&from, len);
    }
}

static void tcp_echo(void* arg)
{
    int s = (int)(intptr_t)arg;
    char buf[8192];
    for (;;) {
        ssize_t n = recv(s, buf, sizeof buf, 0);
        if (n <= 0)
            break;
        for (ssize_t done = 0; done < n;) {
            ssize_t w = send(s, buf + done, (size_t)(n - done), 0);
            if (w <= 0)
                goto out;
            done += w;
        }
    }
out:
    close(s);
}

static int spawn(domus_thread_fn fn, int s, const char* name)
{
    domus_thread_attr_t attr = { 0 };
    attr.name = name;
    attr.stack_size = 64 * 1024;
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    return domus_thread_create(fn, (void*)(intptr_t)s, &attr) ? 0 : -1;
}

int main(int argc, char** argv)
{
    int port = argc > 1 ? atoi(argv[1]) : 7;
    int udp = bound_socket(SOCK_DGRAM, port);
    int tcp = bound_socket(SOCK_STREAM, port);
    if (udp < 0 || tcp < 0 || listen(tcp, 16) < 0 || spawn(udp_echo, udp, "echo-udp") < 0) {
        printf("echo: cannot serve port %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("echo: ready on %d\n", port);
    fflush(stdout);
    for (;;) {
        int s = accept(tcp, NULL, NULL);
        if (s < 0) {
            domus_sleep_ms(5);
            continue;
        }
        if (spawn(tcp_echo, s, "echo-tcp") < 0)
            close(s);
    }
}
