/* Internet addresses for Domus guests: lwIP's (struct sockaddr_in, in_addr, htons...). */
#ifndef DOMUS_NETINET_IN_H
#define DOMUS_NETINET_IN_H
#include <sys/socket.h>
#endif
