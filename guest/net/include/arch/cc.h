/* lwIP's compiler and platform glue for the Domus guest (newlib, x86-64). */
#ifndef DOMUS_LWIP_ARCH_CC_H
#define DOMUS_LWIP_ARCH_CC_H

#include <fcntl.h> /* newlib's O_NONBLOCK and F_GETFL/F_SETFL, as apps see them */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/types.h>

/* newlib has ssize_t (<sys/types.h>); lwIP takes it when SSIZE_MAX says so. */
#ifndef SSIZE_MAX
#define SSIZE_MAX LONG_MAX
#endif

#define LWIP_PLATFORM_DIAG(x)                                                                      \
    do {                                                                                           \
        printf x;                                                                                  \
    } while (0)
#define LWIP_PLATFORM_ASSERT(x)                                                                    \
    do {                                                                                           \
        printf("lwip: assertion \"%s\" failed at %s:%d\n", x, __FILE__, __LINE__);                 \
        abort();                                                                                   \
    } while (0)

/* newlib's <machine/endian.h> defines BYTE_ORDER; errno comes from <errno.h>. */
#define LWIP_ERRNO_STDINCLUDE 1
#define LWIP_TIMEVAL_PRIVATE 0

/* Debian's lwIP (patched for the Hurd's port) leaves the sockaddr length macros to the
 * port; lwIP's own struct sockaddr has sa_len, so they are upstream's expressions. */
#define IP4ADDR_SOCKADDR_SET_LEN(sin) ((sin)->sin_len = sizeof(struct sockaddr_in))
#define IP6ADDR_SOCKADDR_SET_LEN(sin6) ((sin6)->sin6_len = sizeof(struct sockaddr_in6))
#define IPADDR_SOCKADDR_GET_LEN(addr) ((addr)->sa.sa_len)

unsigned domus_net_random(void);
#define LWIP_RAND() domus_net_random()

#endif
