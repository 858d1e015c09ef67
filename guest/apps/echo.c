/* echo: the echo service (RFC 862) on BSD sockets, TCP and UDP, port 7 or the first
 * argument, written as an ordinary single-threaded poll() server: the UDP socket, the TCP
 * listener and up to MAX_CLIENTS connections in one pollfd array, non-blocking sockets,
 * data that a client cannot take yet kept per connection. Prints "echo: ready on <port>". */
#include "server_socket.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_CLIENTS 32
#define BUFFER 65536

struct client {
    char* pending; /* received, not yet sent back */
    size_t start, end;
};

static int bound_socket(int type, int port)
{
    int s = server_socket(type, port);
    if (s >= 0)
        fcntl(s, F_SETFL, fcntl(s, F_GETFL, 0) | O_NONBLOCK);
    return s;
}

static void echo_datagrams(int s)
{
    static char buf[65536];
    for (;;) {
        struct sockaddr_in from;
        socklen_t len = sizeof from;
        ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr*)&from, &len);
        if (n < 0)
            return; /* EWOULDBLOCK: all read */
        sendto(s, buf, (size_t)n, 0, (struct sockaddr*)&from, len);
    }
}

/* Moves what the client sent back to it; -1 when the connection is over. */
static int serve_client(struct pollfd* p, struct client* c)
{
    if (c->end == c->start && (p->revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = recv(p->fd, c->pending, BUFFER, 0);
        if (n == 0 || (n < 0 && errno != EWOULDBLOCK && errno != EAGAIN))
            return -1;
        if (n > 0) {
            c->start = 0;
            c->end = (size_t)n;
        }
    }
    while (c->end > c->start) {
        ssize_t n = send(p->fd, c->pending + c->start, c->end - c->start, 0);
        if (n < 0)
            return errno == EWOULDBLOCK || errno == EAGAIN ? 0 : -1;
        c->start += (size_t)n;
    }
    c->start = c->end = 0;
    return 0;
}

int main(int argc, char** argv)
{
    int port = server_port(argc, argv, 7);
    int udp = bound_socket(SOCK_DGRAM, port);
    int tcp = bound_socket(SOCK_STREAM, port);
    if (udp < 0 || tcp < 0 || listen(tcp, 16) < 0) {
        printf("echo: cannot serve port %d: %s\n", port, strerror(errno));
        return 1;
    }
    static struct pollfd fds[2 + MAX_CLIENTS];
    static struct client clients[2 + MAX_CLIENTS];
    fds[0] = (struct pollfd) { udp, POLLIN, 0 };
    fds[1] = (struct pollfd) { tcp, POLLIN, 0 };
    nfds_t count = 2;
    printf("echo: ready on %d\n", port);
    fflush(stdout);
    for (;;) {
        for (nfds_t i = 2; i < count; ++i) /* wait to write only while data waits */
            fds[i].events = clients[i].end > clients[i].start ? POLLOUT : POLLIN;
        if (poll(fds, count, -1) < 0) {
            printf("echo: poll: %s\n", strerror(errno));
            return 1;
        }
        if (fds[0].revents & POLLIN)
            echo_datagrams(udp);
        if ((fds[1].revents & POLLIN) && count < 2 + MAX_CLIENTS) {
            int s = accept(tcp, NULL, NULL);
            if (s >= 0) {
                fcntl(s, F_SETFL, fcntl(s, F_GETFL, 0) | O_NONBLOCK);
                if (!clients[count].pending)
                    clients[count].pending = malloc(BUFFER);
                clients[count].start = clients[count].end = 0;
                fds[count++] = (struct pollfd) { s, POLLIN, 0 };
            }
        }
        for (nfds_t i = 2; i < count; ++i) {
            if (!fds[i].revents || serve_client(&fds[i], &clients[i]) == 0)
                continue;
            close(fds[i].fd);
            /* The last entry takes this one's place (its buffer too). */
            struct client gone = clients[i];
            fds[i] = fds[count - 1];
            clients[i] = clients[count - 1];
            clients[count - 1] = gone;
            --count;
            --i;
        }
    }
}
