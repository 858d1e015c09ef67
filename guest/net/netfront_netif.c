/* An lwIP network interface over the kernel's netfront (<domus/net.h>): frames out
 * through net_send_parts (the pbuf chain copied once, into the granted TX page), frames
 * in through a receive thread per interface that copies each frame once, from the
 * granted RX page into a pool pbuf, and runs the stack on it in that thread (core
 * locking). The interface goes down, and its thread ends, if the backend closes it. */
#include "netfront_netif.h"

#include <domus/net.h>
#include <lwip/etharp.h>
#include <lwip/netifapi.h>
#include <lwip/pbuf.h>
#include <lwip/tcpip.h>
#include <netif/ethernet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_PARTS 16

static err_t link_output(struct netif* netif, struct pbuf* p)
{
    struct domus_nic* nic = netif->state;
    struct net_part parts[MAX_PARTS];
    unsigned count = 0;
    for (struct pbuf* q = p; q && count < MAX_PARTS; q = q->next, ++count) {
        parts[count].data = q->payload;
        parts[count].len = q->len;
    }
    long sent;
    if (count < MAX_PARTS || !p) {
        sent = net_send_parts(nic->handle, parts, count);
    } else { /* a long chain: flatten it first */
        unsigned char frame[NET_MAX_FRAME];
        if (p->tot_len > sizeof frame)
            return ERR_BUF;
        pbuf_copy_partial(p, frame, p->tot_len, 0);
        sent = net_send(nic->handle, frame, p->tot_len);
    }
    if (sent < 0) {
        LINK_STATS_INC(link.err);
        return sent == -EMSGSIZE ? ERR_BUF : ERR_IF;
    }
    LINK_STATS_INC(link.xmit);
    return ERR_OK;
}

static void receive_thread(void* arg)
{
    struct domus_nic* nic = arg;
    for (;;) {
        struct pbuf* p = pbuf_alloc(PBUF_RAW, NET_MAX_FRAME, PBUF_POOL);
        if (!p) {
            domus_sleep_ms(1); /* out of memory: let the stack drain */
            continue;
        }
        long len = p->next ? -EINVAL : net_receive(nic->handle, p->payload, NET_MAX_FRAME);
        if (len < 0) {
            pbuf_free(p);
            printf("net: en%u: receive failed (%ld); interface down\n", nic->devid, len);
            netifapi_netif_set_link_down(&nic->netif);
            return;
        }
        pbuf_realloc(p, (u16_t)len);
        LINK_STATS_INC(link.recv);
        if (nic->netif.input(p, &nic->netif) != ERR_OK)
            pbuf_free(p);
    }
}

static err_t init_netif(struct netif* netif)
{
    struct domus_nic* nic = netif->state;
    netif->name[0] = 'e';
    netif->name[1] = 'n';
    netif->output = etharp_output;
    netif->linkoutput = link_output;
    netif->mtu = 1500;
    netif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(netif->hwaddr, nic->info.mac, ETH_HWADDR_LEN);
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP;
    return ERR_OK;
}

int domus_nic_add(
    struct domus_nic* nic, const ip4_addr_t* ip, const ip4_addr_t* mask, const ip4_addr_t* gw)
{
    if (netifapi_netif_add(&nic->netif, ip, mask, gw, nic, init_netif, tcpip_input) != ERR_OK)
        return -1;
    nic->netif.num = (u8_t)nic->devid;
    domus_thread_attr_t attr = { 0 };
    attr.name = "net-rx";
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    if (!domus_thread_create(receive_thread, nic, &attr))
        return -1;
    netifapi_netif_set_up(&nic->netif);
    netifapi_netif_set_link_up(&nic->netif);
    return 0;
}
