/* TCP socket options for Domus guests (TCP_NODELAY, TCP_KEEP*): lwIP's. */
#ifndef DOMUS_NETINET_TCP_H
#define DOMUS_NETINET_TCP_H
#include <sys/socket.h>
#endif
