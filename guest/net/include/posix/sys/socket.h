/* BSD sockets for Domus guests: lwIP's types and constants, with the POSIX names as
 * real functions (guest/net/posix_sockets.c). */
#ifndef DOMUS_SYS_SOCKET_H
#define DOMUS_SYS_SOCKET_H

#include <sys/types.h>
#include <sys/select.h> /* newlib's fd_set first: lwIP's sockets then use it */
#include <sys/time.h>

#include <lwip/sockets.h>

#ifdef __cplusplus
extern "C" {
#endif

int socket(int domain, int type, int protocol);
int bind(int s, const struct sockaddr* name, socklen_t namelen);
int listen(int s, int backlog);
int accept(int s, struct sockaddr* addr, socklen_t* addrlen);
int connect(int s, const struct sockaddr* name, socklen_t namelen);
int shutdown(int s, int how);
ssize_t send(int s, const void* data, size_t size, int flags);
ssize_t sendto(
    int s, const void* data, size_t size, int flags, const struct sockaddr* to, socklen_t tolen);
ssize_t sendmsg(int s, const struct msghdr* message, int flags);
ssize_t recv(int s, void* mem, size_t len, int flags);
ssize_t recvfrom(
    int s, void* mem, size_t len, int flags, struct sockaddr* from, socklen_t* fromlen);
ssize_t recvmsg(int s, struct msghdr* message, int flags);
int getsockname(int s, struct sockaddr* name, socklen_t* namelen);
int getpeername(int s, struct sockaddr* name, socklen_t* namelen);
int getsockopt(int s, int level, int optname, void* optval, socklen_t* optlen);
int setsockopt(int s, int level, int optname, const void* optval, socklen_t optlen);
int ioctl(int s, long cmd, void* argp);

#ifdef __cplusplus
}
#endif

#endif
