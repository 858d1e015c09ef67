/* An lwIP netif over one netfront interface (see netfront_netif.c). */
#ifndef DOMUS_NETFRONT_NETIF_H
#define DOMUS_NETFRONT_NETIF_H

#include <domus/net.h>
#include <lwip/netif.h>

struct domus_nic {
    unsigned devid;
    int handle; /* net_open's */
    struct net_info info;
    struct netif netif;
    unsigned char scratch[NET_MAX_PACKET]; /* flattening and fragmenting (core lock held) */
};

/* Adds the interface (net_open done) to the stack with these addresses (zeros for
 * DHCP), starts its receive thread and brings it up. 0, or -1 without memory. */
int domus_nic_add(
    struct domus_nic* nic, const ip4_addr_t* ip, const ip4_addr_t* mask, const ip4_addr_t* gw);

#endif
