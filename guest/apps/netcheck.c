/* netcheck: what a domain can reach, step by step, for tests and operators. Arguments
 * are steps, run in order:
 *   ping ADDR      ICMP echo (raw socket), 3 tries
 *   resolve NAME   getaddrinfo (numeric or DNS)
 *   fetch URL      HTTP GET http://HOST[:PORT]/PATH; HOST may be a name
 * Each step prints one line "netcheck: <step> <arg> ok|FAIL <detail>"; the exit code is
 * the number of failed steps. Words with '=' are left to the kernel and the stack. */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>

#include <lwip/inet_chksum.h>
#include <lwip/prot/icmp.h>
#include <lwip/prot/ip4.h>

#include <domus/guest.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int resolve(const char* name, struct in_addr* out)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(name, NULL, &hints, &res);
    if (rc != 0)
        return rc;
    *out = ((struct sockaddr_in*)res->ai_addr)->sin_addr;
    freeaddrinfo(res);
    return 0;
}

static int step_ping(const char* target)
{
    struct in_addr to;
    if (resolve(target, &to) != 0) {
        printf("netcheck: ping %s FAIL cannot resolve\n", target);
        return 1;
    }
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);
    if (s < 0) {
        printf("netcheck: ping %s FAIL socket: %s\n", target, strerror(errno));
        return 1;
    }
    struct timeval timeout = { 1, 0 };
    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr = to;
    for (int seq = 1; seq <= 3; ++seq) {
        struct icmp_echo_hdr echo;
        memset(&echo, 0, sizeof echo);
        ICMPH_TYPE_SET(&echo, ICMP_ECHO);
        echo.id = htons(0xd0);
        echo.seqno = htons((u16_t)seq);
        echo.chksum = inet_chksum(&echo, sizeof echo);
        uint64_t sent = domus_monotonic_ns();
        if (sendto(s, &echo, sizeof echo, 0, (struct sockaddr*)&addr, sizeof addr) < 0)
            continue;
        char reply[128];
        for (;;) {
            ssize_t n = recv(s, reply, sizeof reply, 0);
            if (n < 0)
                break; /* timed out: next try */
            struct ip_hdr* ip = (struct ip_hdr*)reply;
            size_t ihl = IPH_HL_BYTES(ip);
            if ((size_t)n < ihl + sizeof echo)
                continue;
            struct icmp_echo_hdr* got = (struct icmp_echo_hdr*)(reply + ihl);
            if (ICMPH_TYPE(got) == ICMP_ER && got->id == echo.id && got->seqno == echo.seqno
                && ip->src.addr == to.s_addr) {
                printf("netcheck: ping %s ok rtt %.3f ms\n", target,
                    (double)(domus_monotonic_ns() - sent) / 1e6);
                close(s);
                return 0;
            }
        }
    }
    close(s);
    printf("netcheck: ping %s FAIL no reply\n", target);
    return 1;
}

static int step_resolve(const char* name)
{
    struct in_addr addr;
    int rc = resolve(name, &addr);
    if (rc != 0) {
        printf("netcheck: resolve %s FAIL %s\n", name, gai_strerror(rc));
        return 1;
    }
    char text[INET_ADDRSTRLEN];
    printf("netcheck: resolve %s ok %s\n", name, inet_ntop(AF_INET, &addr, text, sizeof text));
    return 0;
}

static int step_fetch(const char* url)
{
    char host[128], path[256] = "/";
    int port = 80;
    if (strncmp(url, "http://", 7) != 0 || sscanf(url + 7, "%127[^:/]", host) != 1) {
        printf("netcheck: fetch %s FAIL not http://HOST[:PORT]/PATH\n", url);
        return 1;
    }
    const char* rest = url + 7 + strlen(host);
    if (*rest == ':')
        port = (int)strtol(rest + 1, (char**)&rest, 10);
    if (*rest == '/')
        snprintf(path, sizeof path, "%s", rest);
    struct in_addr to;
    if (resolve(host, &to) != 0) {
        printf("netcheck: fetch %s FAIL cannot resolve %s\n", url, host);
        return 1;
    }
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    addr.sin_addr = to;
    if (s < 0 || connect(s, (struct sockaddr*)&addr, sizeof addr) < 0) {
        printf("netcheck: fetch %s FAIL connect: %s\n", url, strerror(errno));
        if (s >= 0)
            close(s);
        return 1;
    }
    uint64_t started = domus_monotonic_ns();
    char request[512];
    int n = snprintf(request, sizeof request,
        "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: domus-netcheck\r\n\r\n", path, host);
    send(s, request, (size_t)n, 0);
    static char response[16384]; /* the head and the start of the body; the rest is counted */
    size_t have = 0, total = 0;
    for (;;) {
        /* select(), as a portable client would: 5 s without data ends the fetch. */
        fd_set readable;
        FD_ZERO(&readable);
        FD_SET(s, &readable);
        struct timeval wait = { 5, 0 };
        if (select(s + 1, &readable, NULL, NULL, &wait) != 1)
            break;
        char* into = have < sizeof response - 1 ? response + have : NULL;
        static char sink[16384];
        size_t room = into ? sizeof response - 1 - have : sizeof sink;
        ssize_t got = recv(s, into ? into : sink, room, 0);
        if (got <= 0)
            break;
        if (into)
            have += (size_t)got;
        total += (size_t)got;
    }
    close(s);
    response[have] = '\0';
    int status = 0;
    char* body = strstr(response, "\r\n\r\n");
    if (sscanf(response, "HTTP/%*s %d", &status) != 1 || !body) {
        printf("netcheck: fetch %s FAIL no HTTP response (%zu bytes)\n", url, total);
        return 1;
    }
    body += 4;
    char first[64];
    snprintf(first, sizeof first, "%.*s", (int)strcspn(body, "\r\n"), body);
    double ms = (double)(domus_monotonic_ns() - started) / 1e6;
    printf("netcheck: fetch %s %s status %d body %zu bytes \"%s\" in %.1f ms (%.1f Mbit/s)\n", url,
        status == 200 ? "ok" : "FAIL", status, total - (size_t)(body - response), first, ms,
        ms > 0 ? (double)total * 8 / ms / 1000 : 0.0);
    return status == 200 ? 0 : 1;
}

int main(int argc, char** argv)
{
    int failed = 0;
    /* Steps are word pairs; key=value words (ip=dhcp...) are the kernel's and the stack's. */
    char* words[64];
    int count = 0;
    for (int i = 1; i < argc && count < 64; ++i)
        if (!strchr(argv[i], '='))
            words[count++] = argv[i];
    for (int i = 0; i + 1 < count; i += 2) {
        if (!strcmp(words[i], "ping"))
            failed += step_ping(words[i + 1]);
        else if (!strcmp(words[i], "resolve"))
            failed += step_resolve(words[i + 1]);
        else if (!strcmp(words[i], "fetch"))
            failed += step_fetch(words[i + 1]);
        else {
            printf("netcheck: unknown step \"%s\" (ping, resolve, fetch)\n", words[i]);
            ++failed;
        }
    }
    printf("netcheck: done, %d failed\n", failed);
    return failed;
}
