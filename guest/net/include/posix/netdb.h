/* Name resolution for Domus guests: numeric addresses and DNS (lwIP's resolver, with the
 * servers DHCP gave or the static gateway). */
#ifndef DOMUS_NETDB_H
#define DOMUS_NETDB_H

#include <sys/socket.h>

#include <lwip/netdb.h>

#ifdef __cplusplus
extern "C" {
#endif

int getaddrinfo(
    const char* node, const char* service, const struct addrinfo* hints, struct addrinfo** res);
void freeaddrinfo(struct addrinfo* ai);
const char* gai_strerror(int error);
struct hostent* gethostbyname(const char* name);

#ifdef __cplusplus
}
#endif

#endif
