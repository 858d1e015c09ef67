/* save_counter_net: save_counter's load (memory dirtying, a verified PV disk) and, at the
 * same time, a TCP client to serve, for the live-migration test that moves all three at
 * once. Port 80 answers "GET /bytes/<N>" with N bytes of the known body (server_socket.h),
 * one connection at a time, then closes. */
#include "server_socket.h"

#include <sys/socket.h>

#include <domus/guest.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void serve_one(int s)
{
    char request[512];
    size_t have = 0;
    while (have < sizeof request - 1 && !memchr(request, '\n', have)) {
        ssize_t n = recv(s, request + have, sizeof request - 1 - have, 0);
        if (n <= 0)
            return;
        have += (size_t)n;
    }
    request[have] = 0;
    unsigned long long count;
    if (sscanf(request, "GET /bytes/%llu", &count) != 1 || count > (1ull << 34)) {
        static const char bad[] = "HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        send_all(s, bad, sizeof bad - 1);
        return;
    }
    char head[128];
    int n = snprintf(head, sizeof head,
        "HTTP/1.0 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %llu\r\n\r\n",
        count);
    if (send_all(s, head, (size_t)n) == 0)
        send_pattern(s, count);
}

static void server(void* arg)
{
    int listener = (int)(intptr_t)arg;
    for (;;) {
        int s = accept(listener, NULL, NULL);
        if (s < 0) {
            domus_sleep_ms(5);
            continue;
        }
        serve_one(s);
        close(s);
    }
}

/* save_counter.c calls this (a weak hook there) before it starts counting. */
void save_counter_serve(void)
{
    int listener = server_socket(SOCK_STREAM, 80);
    if (listener < 0 || listen(listener, 8) < 0) {
        printf("save_counter: cannot listen on 80\n");
        return;
    }
    domus_thread_attr_t attr = { 0 };
    attr.name = "serve";
    attr.stack_size = 64 * 1024;
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    if (!domus_thread_create(server, (void*)(intptr_t)listener, &attr))
        printf("save_counter: cannot start the server\n");
    else
        printf("save_counter: serving on 80\n");
}
