/* The BSD socket calls under their POSIX names, over lwIP's socket layer; and the
 * descriptor hooks the C library's read/write/close/fcntl call for fds from
 * LWIP_SOCKET_OFFSET up (guest/libc/syscalls.c). Any socket call starts the network. */
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>

#include <domus/netstack.h>

#include <errno.h>
#include <stdarg.h>

#define STARTED(expr) (domus_net_start(), (expr))

int socket(int domain, int type, int protocol)
{
    return STARTED(lwip_socket(domain, type, protocol));
}
int bind(int s, const struct sockaddr* name, socklen_t namelen)
{
    return lwip_bind(s, name, namelen);
}
int listen(int s, int backlog) { return lwip_listen(s, backlog); }
int accept(int s, struct sockaddr* addr, socklen_t* addrlen)
{
    return lwip_accept(s, addr, addrlen);
}
int connect(int s, const struct sockaddr* name, socklen_t namelen)
{
    return lwip_connect(s, name, namelen);
}
int shutdown(int s, int how) { return lwip_shutdown(s, how); }
ssize_t send(int s, const void* data, size_t size, int flags)
{
    return lwip_send(s, data, size, flags);
}
ssize_t sendto(
    int s, const void* data, size_t size, int flags, const struct sockaddr* to, socklen_t tolen)
{
    return lwip_sendto(s, data, size, flags, to, tolen);
}
ssize_t sendmsg(int s, const struct msghdr* message, int flags)
{
    return lwip_sendmsg(s, message, flags);
}
ssize_t recv(int s, void* mem, size_t len, int flags) { return lwip_recv(s, mem, len, flags); }
ssize_t recvfrom(int s, void* mem, size_t len, int flags, struct sockaddr* from, socklen_t* fromlen)
{
    return lwip_recvfrom(s, mem, len, flags, from, fromlen);
}
ssize_t recvmsg(int s, struct msghdr* message, int flags)
{
    return lwip_recvmsg(s, message, flags);
}
int getsockname(int s, struct sockaddr* name, socklen_t* namelen)
{
    return lwip_getsockname(s, name, namelen);
}
int getpeername(int s, struct sockaddr* name, socklen_t* namelen)
{
    return lwip_getpeername(s, name, namelen);
}
int getsockopt(int s, int level, int optname, void* optval, socklen_t* optlen)
{
    return lwip_getsockopt(s, level, optname, optval, optlen);
}
int setsockopt(int s, int level, int optname, const void* optval, socklen_t optlen)
{
    return lwip_setsockopt(s, level, optname, optval, optlen);
}
int ioctl(int s, long cmd, void* argp) { return lwip_ioctl(s, cmd, argp); }

int select(int n, fd_set* readfds, fd_set* writefds, fd_set* exceptfds, struct timeval* timeout)
{
    return STARTED(lwip_select(n, readfds, writefds, exceptfds, timeout));
}
int poll(struct pollfd* fds, nfds_t nfds, int timeout)
{
    return STARTED(lwip_poll(fds, nfds, timeout));
}

int inet_pton(int af, const char* src, void* dst) { return lwip_inet_pton(af, src, dst); }
const char* inet_ntop(int af, const void* src, char* dst, socklen_t size)
{
    return lwip_inet_ntop(af, src, dst, size);
}

int getaddrinfo(
    const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res)
{
    return STARTED(lwip_getaddrinfo(node, service, hints, res));
}
void freeaddrinfo(struct addrinfo* ai) { lwip_freeaddrinfo(ai); }
struct hostent* gethostbyname(const char* name) { return STARTED(lwip_gethostbyname(name)); }

const char* gai_strerror(int error)
{
    switch (error) {
    case 0:
        return "Success";
    case EAI_NONAME:
        return "Name or service not known";
    case EAI_SERVICE:
        return "Service not supported";
    case EAI_FAIL:
        return "Non-recoverable failure in name resolution";
    case EAI_MEMORY:
        return "Memory allocation failure";
    case EAI_FAMILY:
        return "Address family not supported";
    default:
        return "Unknown error";
    }
}

/* ---- descriptor hooks for guest/libc/syscalls.c ---- */

ssize_t domus_socket_read(int fd, void* buf, size_t len) { return lwip_read(fd, buf, len); }
ssize_t domus_socket_write(int fd, const void* buf, size_t len) { return lwip_write(fd, buf, len); }
int domus_socket_close(int fd) { return lwip_close(fd); }
int domus_socket_fcntl(int fd, int cmd, int value) { return lwip_fcntl(fd, cmd, value); }
