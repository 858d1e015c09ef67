/* An lwIP network interface over the kernel's netfront (<domus/net.h>), with the host
 * doing what a NIC would: checksums and TCP segmentation.
 *
 * The wire is Ethernet with a 1500-byte MTU. With offloads granted, the stack sees a
 * larger MTU (TCP_MSS + 40): TCP segments up to TCP_MSS go out whole as GSO packets
 * (the host cuts them to the wire's MSS), checksums of TCP and UDP are left to the host
 * both ways (lwIP's per-netif checksum control), and the few other IPv4 packets over
 * 1500 bytes are fragmented here. Peers that announce the wire's full MSS get TCP_MSS
 * instead (their SYN's MSS option is raised as it comes in), so lwIP builds large
 * segments for them; a peer with a smaller MSS keeps it, and its segments are one frame.
 *
 * Frames out: net_send_packet copies the pbuf chain once, into the granted TX pages.
 * Frames in: a receive thread per interface peeks at each packet, allocates a pbuf of
 * its size, takes the packet into it (one copy, from the granted RX pages) and
 * runs the stack on it in that thread (core locking). The interface goes down, and its
 * thread ends, if the backend closes it. */
#include "netfront_netif.h"

#include <domus/net.h>
#include <lwip/etharp.h>
#include <lwip/inet_chksum.h>
#include <lwip/netifapi.h>
#include <lwip/pbuf.h>
#include <lwip/prot/ip4.h>
#include <lwip/prot/tcp.h>
#include <lwip/tcpip.h>
#include <netif/ethernet.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define MAX_PARTS 64
#define WIRE_MTU 1500
#define ETH_HEADER 14
#define IPV4_ETHERTYPE 0x0800

/* ---- frames out ---- */

static long send_chain(struct domus_nic* nic, struct pbuf* p, const struct net_packet* packet)
{
    struct net_part parts[MAX_PARTS];
    unsigned count = 0;
    for (struct pbuf* q = p; q; q = q->next) {
        if (count == MAX_PARTS) { /* a long chain: flatten it (tot_len fits the scratch) */
            pbuf_copy_partial(p, nic->scratch, p->tot_len, 0);
            parts[0].data = nic->scratch;
            parts[0].len = p->tot_len;
            count = 1;
            break;
        }
        parts[count].data = q->payload;
        parts[count].len = q->len;
        ++count;
    }
    return net_send_packet(nic->handle, parts, count, packet);
}

/* An IPv4 packet over the wire's MTU that is not TCP: cut into fragments (of a fragment
 * too: offsets continue from its own, MF stays on all but the last of the last). */
static long send_fragments(struct domus_nic* nic, struct pbuf* p, unsigned ihl)
{
    unsigned char* buf = nic->scratch; /* a u16_t tot_len always fits */
    pbuf_copy_partial(p, buf, p->tot_len, 0);
    struct ip_hdr* ip = (struct ip_hdr*)(buf + ETH_HEADER);
    u16_t offset_field = lwip_ntohs(IPH_OFFSET(ip));
    unsigned base = (offset_field & IP_OFFMASK) * 8u;
    int more_after = (offset_field & IP_MF) != 0;
    unsigned payload = p->tot_len - ETH_HEADER - ihl;
    unsigned step = (WIRE_MTU - ihl) & ~7u;
    unsigned char frame[ETH_HEADER + WIRE_MTU];
    for (unsigned done = 0; done < payload; done += step) {
        unsigned chunk = payload - done < step ? payload - done : step;
        int last = done + chunk == payload;
        memcpy(frame, buf, ETH_HEADER + ihl);
        memcpy(frame + ETH_HEADER + ihl, buf + ETH_HEADER + ihl + done, chunk);
        struct ip_hdr* f = (struct ip_hdr*)(frame + ETH_HEADER);
        u16_t field = (u16_t)((base + done) / 8u);
        if (!last || more_after)
            field |= IP_MF;
        IPH_OFFSET_SET(f, lwip_htons(field));
        IPH_LEN_SET(f, lwip_htons((u16_t)(ihl + chunk)));
        IPH_CHKSUM_SET(f, 0);
        IPH_CHKSUM_SET(f, inet_chksum(f, (u16_t)ihl));
        long sent = net_send(nic->handle, frame, ETH_HEADER + ihl + chunk);
        if (sent < 0)
            return sent;
    }
    return p->tot_len;
}

static err_t link_output(struct netif* netif, struct pbuf* p)
{
    struct domus_nic* nic = netif->state;
    struct net_packet packet = { 0, 0, 0 };
    long sent;
    unsigned char head[ETH_HEADER + 60 + 60];
    u16_t got = pbuf_copy_partial(p, head, sizeof head, 0);
    int ipv4 = got >= ETH_HEADER + IP_HLEN && head[12] == (IPV4_ETHERTYPE >> 8)
        && head[13] == (IPV4_ETHERTYPE & 0xff);
    struct ip_hdr* ip = (struct ip_hdr*)(head + ETH_HEADER);
    unsigned ihl = ipv4 ? IPH_HL_BYTES(ip) : 0;
    int fragment = ipv4 && (lwip_ntohs(IPH_OFFSET(ip)) & (IP_OFFMASK | IP_MF));
    int proto = ipv4 ? IPH_PROTO(ip) : -1;
    int offloaded = (nic->info.offloads & NET_OFFLOAD_CSUM) && !fragment
        && (proto == IP_PROTO_TCP || proto == IP_PROTO_UDP);
    if (offloaded)
        packet.flags = NET_PACKET_CSUM_BLANK;
    if (p->tot_len <= ETH_HEADER + WIRE_MTU) {
        sent = send_chain(nic, p, &packet);
    } else if (proto == IP_PROTO_TCP && (nic->info.offloads & NET_OFFLOAD_GSO)) {
        struct tcp_hdr* tcp = (struct tcp_hdr*)(head + ETH_HEADER + ihl);
        unsigned header = ihl + TCPH_HDRLEN_BYTES(tcp);
        packet.gso_size = WIRE_MTU - header; /* the wire's MSS for these headers */
        sent = send_chain(nic, p, &packet);
    } else if (ipv4) {
        if (proto == IP_PROTO_UDP && offloaded) {
            /* Fragments cannot leave their checksum to the host: fill it in here. */
            struct pbuf* udp
                = pbuf_alloc(PBUF_RAW, (u16_t)(p->tot_len - ETH_HEADER - ihl), PBUF_RAM);
            if (!udp)
                return ERR_MEM;
            pbuf_copy_partial(p, udp->payload, udp->tot_len, ETH_HEADER + ihl);
            u16_t* field = (u16_t*)((u8_t*)udp->payload + 6);
            *field = 0;
            ip4_addr_t src, dest;
            ip4_addr_copy(src, ip->src);
            ip4_addr_copy(dest, ip->dest);
            u16_t sum = inet_chksum_pseudo(
                udp, IP_PROTO_UDP, udp->tot_len, (ip_addr_t*)&src, (ip_addr_t*)&dest);
            *field = sum ? sum : 0xffff;
            pbuf_take_at(p, field, 2, (u16_t)(ETH_HEADER + ihl + 6));
            pbuf_free(udp);
        }
        sent = send_fragments(nic, p, ihl);
    } else {
        sent = -EMSGSIZE;
    }
    if (sent < 0) {
        LINK_STATS_INC(link.err);
        return sent == -EMSGSIZE ? ERR_BUF : ERR_IF;
    }
    LINK_STATS_INC(link.xmit);
    return ERR_OK;
}

/* ---- frames in ---- */

/* The TCP/UDP checksum of a packet the host did not check (lwIP does not, with offloads). */
static int l4_checksum_ok(struct pbuf* p)
{
    unsigned char head[ETH_HEADER + IP_HLEN];
    if (pbuf_copy_partial(p, head, sizeof head, 0) != sizeof head || head[12] != 0x08
        || head[13] != 0)
        return 1;
    struct ip_hdr* ip = (struct ip_hdr*)(head + ETH_HEADER);
    int proto = IPH_PROTO(ip);
    unsigned ihl = IPH_HL_BYTES(ip);
    unsigned total = lwip_ntohs(IPH_LEN(ip));
    if ((proto != IP_PROTO_TCP && proto != IP_PROTO_UDP)
        || (lwip_ntohs(IPH_OFFSET(ip)) & (IP_OFFMASK | IP_MF)) || total < ihl
        || ETH_HEADER + total > p->tot_len)
        return 1; /* lwIP's own checks deal with it */
    u16_t l4_len = (u16_t)(total - ihl);
    struct pbuf* l4 = pbuf_alloc(PBUF_RAW, l4_len, PBUF_RAM);
    if (!l4)
        return 0;
    pbuf_copy_partial(p, l4->payload, l4_len, (u16_t)(ETH_HEADER + ihl));
    ip4_addr_t src, dest;
    ip4_addr_copy(src, ip->src);
    ip4_addr_copy(dest, ip->dest);
    int ok = 1;
    if (proto == IP_PROTO_TCP || ((u8_t*)l4->payload)[6] || ((u8_t*)l4->payload)[7])
        ok = inet_chksum_pseudo(l4, (u8_t)proto, l4_len, (ip_addr_t*)&src, (ip_addr_t*)&dest) == 0;
    pbuf_free(l4);
    return ok;
}

/* A SYN from a peer that takes full wire-size segments: its MSS option is raised to the
 * most (lwIP keeps TCP_MSS), so the stack builds large segments the host will cut. */
static void raise_peer_mss(struct pbuf* p)
{
    unsigned char* frame = p->payload;
    if (p->len < ETH_HEADER + IP_HLEN + TCP_HLEN || frame[12] != 0x08 || frame[13] != 0)
        return;
    struct ip_hdr* ip = (struct ip_hdr*)(frame + ETH_HEADER);
    unsigned ihl = IPH_HL_BYTES(ip);
    if (IPH_PROTO(ip) != IP_PROTO_TCP || p->len < ETH_HEADER + ihl + TCP_HLEN)
        return;
    struct tcp_hdr* tcp = (struct tcp_hdr*)(frame + ETH_HEADER + ihl);
    unsigned header = TCPH_HDRLEN_BYTES(tcp);
    if (!(TCPH_FLAGS(tcp) & TCP_SYN) || header < TCP_HLEN || p->len < ETH_HEADER + ihl + header)
        return;
    unsigned char* opt = (unsigned char*)tcp + TCP_HLEN;
    unsigned char* end = (unsigned char*)tcp + header;
    while (opt < end && *opt != 0) {
        if (*opt == 1) {
            ++opt;
            continue;
        }
        if (opt + 1 >= end || opt[1] < 2 || opt + opt[1] > end)
            return;
        if (opt[0] == 2 && opt[1] == 4) {
            unsigned mss = (unsigned)opt[2] << 8 | opt[3];
            if (mss >= WIRE_MTU - IP_HLEN - TCP_HLEN)
                opt[2] = opt[3] = 0xff;
            return;
        }
        opt += opt[1];
    }
}

static void receive_thread(void* arg)
{
    struct domus_nic* nic = arg;
    int offloads = nic->info.offloads;
    for (;;) {
        struct net_packet packet;
        long len = net_peek_packet(nic->handle, &packet);
        /* One heap pbuf of the packet's size: one allocation, the packet contiguous. */
        struct pbuf* p = len > 0 ? pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM) : NULL;
        if (len > 0 && !p) {
            domus_sleep_ms(1); /* out of memory: let the stack drain, the packet waits */
            continue;
        }
        struct net_buffer buffers[MAX_PARTS];
        unsigned count = 0;
        for (struct pbuf* q = p; q && count < MAX_PARTS; q = q->next, ++count) {
            buffers[count].data = q->payload;
            buffers[count].len = q->len;
        }
        if (len > 0)
            len = net_take_packet(nic->handle, buffers, count);
        if (len < 0) {
            if (p)
                pbuf_free(p);
            printf("net: en%u: receive failed (%ld); interface down\n", nic->devid, len);
            netifapi_netif_set_link_down(&nic->netif);
            return;
        }
        if ((offloads & NET_OFFLOAD_CSUM)
            && !(packet.flags & (NET_PACKET_CSUM_BLANK | NET_PACKET_DATA_VALIDATED))
            && !l4_checksum_ok(p)) {
            LINK_STATS_INC(link.chkerr);
            pbuf_free(p);
            continue;
        }
        if (offloads & NET_OFFLOAD_GSO)
            raise_peer_mss(p);
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
    netif->mtu = (nic->info.offloads & NET_OFFLOAD_GSO) ? TCP_MSS + IP_HLEN + TCP_HLEN : WIRE_MTU;
    netif->hwaddr_len = ETH_HWADDR_LEN;
    memcpy(netif->hwaddr, nic->info.mac, ETH_HWADDR_LEN);
    netif->flags = NETIF_FLAG_BROADCAST | NETIF_FLAG_ETHARP | NETIF_FLAG_ETHERNET | NETIF_FLAG_IGMP;
    if (nic->info.offloads & NET_OFFLOAD_CSUM) /* TCP and UDP checksums are the host's */
        NETIF_SET_CHECKSUM_CTRL(netif,
            NETIF_CHECKSUM_GEN_IP | NETIF_CHECKSUM_GEN_ICMP | NETIF_CHECKSUM_CHECK_IP
                | NETIF_CHECKSUM_CHECK_ICMP);
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
