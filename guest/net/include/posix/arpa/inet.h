/* Address conversion for Domus guests: inet_pton/inet_ntop as functions; inet_addr,
 * inet_aton and inet_ntoa are lwIP's macros. */
#ifndef DOMUS_ARPA_INET_H
#define DOMUS_ARPA_INET_H

#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

int inet_pton(int af, const char* src, void* dst);
const char* inet_ntop(int af, const void* src, char* dst, socklen_t size);

#ifdef __cplusplus
}
#endif

#endif
