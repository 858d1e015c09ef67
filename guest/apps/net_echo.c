/* net_echo: answers on PV network interface 0 with nothing but <domus/net.h>: ARP
 * requests for its address, ICMP echo requests (ping), and UDP datagrams to port 7
 * (echoed back). Its address is the vif's `ip` (the toolstack's ip=). Prints
 * "net_echo: ready IP MAC" once the interface is connected, then serves until the domain
 * is destroyed; "net_echo: FAIL <what>" (exit 1) when the interface cannot be used. */
#include "frame_responder.h"

#include <domus/net.h>

#include <stdio.h>

int main(void)
{
    struct net_info info;
    int nic = net_open(0, &info);
    if (nic < 0) {
        printf("net_echo: FAIL net_open: %d\n", nic);
        return 1;
    }
    uint8_t ip[4];
    if (responder_parse_ip(info.ip, ip) < 0) {
        printf("net_echo: FAIL no ip= for the vif (\"%s\")\n", info.ip);
        return 1;
    }
    const uint8_t* m = info.mac;
    printf("net_echo: ready %u.%u.%u.%u %02x:%02x:%02x:%02x:%02x:%02x\n", ip[0], ip[1], ip[2],
        ip[3], m[0], m[1], m[2], m[3], m[4], m[5]);
    fflush(stdout);
    long failed = responder_serve(nic, info.mac, ip);
    printf("net_echo: FAIL net_receive/net_send: %ld\n", failed);
    return 1;
}
