/* httpd: a small HTTP/1.1 server on BSD sockets, one thread per connection, keep-alive.
 * Serves the directory built into the image (guest/apps/www, at /), a status page
 * (/status: uptime, vCPUs, the interface's counters) and /bytes/<N> (N bytes of a known
 * pattern, for throughput tests). Port 80, or the first argument. Prints
 * "httpd: listening on <port>" once it accepts connections. */
#define _GNU_SOURCE /* strcasestr */
#include "server_socket.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <domus/guest.h>
#include <domus/net.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct domus_embedded_file {
    const char* path;
    const unsigned char* data;
    size_t size;
};
extern const struct domus_embedded_file domus_embedded_files[];

static unsigned long long served, connections;

static int respond(int s, int status, const char* reason, const char* type, const void* body,
    size_t len, int keep_alive)
{
    char head[256];
    int n = snprintf(head, sizeof head,
        "HTTP/1.1 %d %s\r\nServer: domus-httpd\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
        "Connection: %s\r\n\r\n",
        status, reason, type, len, keep_alive ? "keep-alive" : "close");
    __atomic_add_fetch(&served, 1, __ATOMIC_RELAXED);
    if (send_all(s, head, (size_t)n) < 0)
        return -1;
    return len ? send_all(s, body, len) : 0;
}

static const char* content_type(const char* path)
{
    const char* dot = strrchr(path, '.');
    if (dot && !strcmp(dot, ".html"))
        return "text/html";
    if (dot && !strcmp(dot, ".txt"))
        return "text/plain";
    return "application/octet-stream";
}

static int send_bytes(int s, unsigned long long count, int keep_alive)
{
    char head[192];
    int n = snprintf(head, sizeof head,
        "HTTP/1.1 200 OK\r\nServer: domus-httpd\r\nContent-Type: application/octet-stream\r\n"
        "Content-Length: %llu\r\nConnection: %s\r\n\r\n",
        count, keep_alive ? "keep-alive" : "close");
    __atomic_add_fetch(&served, 1, __ATOMIC_RELAXED);
    if (send_all(s, head, (size_t)n) < 0)
        return -1;
    return send_pattern(s, count);
}

static int status_page(int s, int keep_alive)
{
    char body[1024];
    struct net_stats st = { 0 };
    net_stats(0, &st);
    int n = snprintf(body, sizeof body,
        "domus httpd\nuptime_ms %llu\nvcpus %u\nconnections %llu\nrequests %llu\n"
        "vif0_tx_frames %llu\nvif0_rx_frames %llu\nvif0_notifications %llu\n",
        (unsigned long long)(domus_monotonic_ns() / 1000000), domus_vcpu_count(), connections,
        served, (unsigned long long)st.tx_frames, (unsigned long long)st.rx_frames,
        (unsigned long long)st.notifications);
    return respond(s, 200, "OK", "text/plain", body, (size_t)n, keep_alive);
}

/* One request (its head is in req); the response is sent. -1 ends the connection. */
static int handle(int s, char* req, int keep_alive)
{
    char method[8], path[256];
    if (sscanf(req, "%7s %255s", method, path) != 2)
        return respond(s, 400, "Bad Request", "text/plain", "bad request\n", 12, 0), -1;
    if (strcmp(method, "GET") && strcmp(method, "HEAD"))
        return respond(s, 405, "Method Not Allowed", "text/plain", "GET only\n", 9, keep_alive);
    if (!strcmp(path, "/status"))
        return status_page(s, keep_alive);
    if (!strncmp(path, "/bytes/", 7)) {
        char* end;
        unsigned long long count = strtoull(path + 7, &end, 10);
        if (*end || count > (1ull << 34))
            return respond(s, 400, "Bad Request", "text/plain", "bad count\n", 10, keep_alive);
        return send_bytes(s, count, keep_alive);
    }
    if (!strcmp(path, "/"))
        strcpy(path, "/index.html");
    for (const struct domus_embedded_file* f = domus_embedded_files; f->path; ++f)
        if (!strcmp(f->path, path))
            return respond(s, 200, "OK", content_type(path), f->data, f->size, keep_alive);
    return respond(s, 404, "Not Found", "text/plain", "not found\n", 10, keep_alive);
}

static int wants_close(const char* head)
{
    int http10 = strstr(head, "HTTP/1.0") != NULL;
    if (strcasestr(head, "\nConnection: close"))
        return 1;
    if (strcasestr(head, "\nConnection: keep-alive"))
        return 0;
    return http10;
}

static void connection(void* arg)
{
    int s = (int)(intptr_t)arg;
    char buf[4096];
    size_t have = 0;
    for (;;) {
        char* end = NULL;
        buf[have] = '\0';
        while (!(end = strstr(buf, "\r\n\r\n"))) {
            if (have == sizeof buf - 1)
                goto done; /* a head over 4 KiB */
            ssize_t n = recv(s, buf + have, sizeof buf - 1 - have, 0);
            if (n <= 0)
                goto done;
            have += (size_t)n;
            buf[have] = '\0';
        }
        end += 4;
        char saved = *end;
        *end = '\0';
        int keep_alive = !wants_close(buf);
        int rc = handle(s, buf, keep_alive);
        *end = saved;
        if (rc < 0 || !keep_alive)
            break;
        have -= (size_t)(end - buf);
        memmove(buf, end, have);
    }
done:
    close(s);
}

int main(int argc, char** argv)
{
    int port = server_port(argc, argv, 80);
    int listener = server_socket(SOCK_STREAM, port);
    if (listener < 0 || listen(listener, 64) < 0) {
        printf("httpd: bind/listen on %d: %s\n", port, strerror(errno));
        return 1;
    }
    printf("httpd: listening on %d\n", port);
    fflush(stdout);
    for (;;) {
        int s = accept(listener, NULL, NULL);
        if (s < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == ENFILE || errno == EMFILE) {
                domus_sleep_ms(5);
                continue;
            }
            printf("httpd: accept: %s\n", strerror(errno));
            return 1;
        }
        int one = 1;
        setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        __atomic_add_fetch(&connections, 1, __ATOMIC_RELAXED);
        domus_thread_attr_t attr = { 0 };
        attr.name = "http";
        attr.stack_size = 64 * 1024;
        attr.vcpu = DOMUS_ANY_VCPU;
        attr.detached = 1;
        if (!domus_thread_create(connection, (void*)(intptr_t)s, &attr))
            close(s);
    }
}
