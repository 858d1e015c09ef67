/* The frame responder (frame_responder.h). */
#include "frame_responder.h"

#include <domus/net.h>

#include <stdio.h>
#include <string.h>

static uint8_t my_mac[6];
static uint8_t my_ip[4];

static uint16_t be16(const uint8_t* p) { return (uint16_t)(p[0] << 8 | p[1]); }
static void put16(uint8_t* p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

/* One's-complement sum over len bytes, folded, not inverted. */
static uint32_t sum(const uint8_t* p, size_t len, uint32_t acc)
{
    for (size_t i = 0; i + 1 < len; i += 2)
        acc += be16(p + i);
    if (len & 1)
        acc += (uint32_t)p[len - 1] << 8;
    while (acc >> 16)
        acc = (acc & 0xffff) + (acc >> 16);
    return acc;
}

int responder_parse_ip(const char* text, uint8_t out[4])
{
    unsigned a, b, c, d;
    if (sscanf(text, "%u.%u.%u.%u", &a, &b, &c, &d) != 4 || a > 255 || b > 255 || c > 255
        || d > 255)
        return -1;
    out[0] = (uint8_t)a;
    out[1] = (uint8_t)b;
    out[2] = (uint8_t)c;
    out[3] = (uint8_t)d;
    return 0;
}

/* Swaps the Ethernet addresses: the reply goes back where the frame came from. */
static void reply_ethernet(uint8_t* f)
{
    memcpy(f, f + 6, 6);
    memcpy(f + 6, my_mac, 6);
}

static long answer_arp(uint8_t* f, long len)
{
    uint8_t* a = f + 14;
    if (len < 42 || be16(a) != 1 || be16(a + 2) != 0x0800 || be16(a + 6) != 1
        || memcmp(a + 24, my_ip, 4))
        return 0;
    reply_ethernet(f);
    put16(a + 6, 2); /* reply */
    memcpy(a + 18, a + 8, 10); /* target = the asker (MAC, IP) */
    memcpy(a + 8, my_mac, 6);
    memcpy(a + 14, my_ip, 4);
    return 42;
}

static long answer_ipv4(uint8_t* f, long len)
{
    uint8_t* ip = f + 14;
    if (len < 34 || (ip[0] >> 4) != 4 || memcmp(ip + 16, my_ip, 4))
        return 0;
    size_t ihl = (size_t)(ip[0] & 15) * 4;
    size_t total = be16(ip + 2);
    if (ihl < 20 || total < ihl || 14 + total > (size_t)len)
        return 0;
    uint8_t* l4 = ip + ihl;
    size_t l4_len = total - ihl;
    if (ip[9] == 1 && l4_len >= 8 && l4[0] == 8) { /* ICMP echo request */
        l4[0] = 0;
        put16(l4 + 2, 0);
        put16(l4 + 2, (uint16_t)~sum(l4, l4_len, 0));
    } else if (ip[9] == 17 && l4_len >= 8 && be16(l4 + 2) == 7) { /* UDP echo */
        uint8_t port[2];
        memcpy(port, l4, 2);
        memcpy(l4, l4 + 2, 2);
        memcpy(l4 + 2, port, 2);
        put16(l4 + 6, 0); /* no checksum: IPv4 allows it */
    } else {
        return 0;
    }
    uint8_t addr[4];
    memcpy(addr, ip + 12, 4);
    memcpy(ip + 12, ip + 16, 4);
    memcpy(ip + 16, addr, 4);
    ip[8] = 64;
    put16(ip + 10, 0);
    put16(ip + 10, (uint16_t)~sum(ip, ihl, 0));
    reply_ethernet(f);
    return (long)(14 + total);
}

long responder_serve(int nic, const uint8_t mac[6], const uint8_t ip[4])
{
    memcpy(my_mac, mac, 6);
    memcpy(my_ip, ip, 4);
    static uint8_t frame[NET_MAX_FRAME];
    for (;;) {
        long len = net_receive(nic, frame, sizeof frame);
        if (len < 0)
            return len;
        if (len < 14)
            continue;
        uint16_t type = be16(frame + 12);
        long reply = type == 0x0806 ? answer_arp(frame, len)
            : type == 0x0800        ? answer_ipv4(frame, len)
                                    : 0;
        if (reply > 0) {
            long sent = net_send(nic, frame, (size_t)reply);
            if (sent < 0)
                return sent;
        }
    }
}
