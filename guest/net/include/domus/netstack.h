/* Domus guest: the TCP/IP stack (lwIP) over the domain's PV network interfaces.
 *
 * Apps built with the network (domus_add_guest_app(... NET)) get it started before
 * main(), the way a Linux guest with ip=dhcp comes up: every interface under
 * device/vif is connected; one with an `ip` key (xl's ip=, "A.B.C.D[/LEN]") takes that
 * address (with /LEN: that netmask and the subnet's gateway, the first host address or
 * the second when the guest has the first, also used as DNS server; without: every
 * address on-link, which routed vifs answer by proxy ARP); the others ask DHCP and wait
 * up to DOMUS_NET_DHCP_WAIT_MS for a lease. `ip=dhcp` on the domain's command line (as
 * Linux's ip= boot option) asks DHCP for every interface, ip= keys or not. Each address is printed
 * on the console
 * ("net: en<N> <addr>/<len> gw <gw> (static|dhcp)") and published in the store at
 * attr/vif/<N>/ipv4/0, where Xen's guest agents put it.
 *
 * The BSD socket API comes from the ordinary headers (<sys/socket.h>, <netinet/in.h>,
 * <arpa/inet.h>, <netdb.h>, <poll.h>); socket descriptors start at 16 and also work
 * with read/write/close/fcntl. select/poll see sockets only. */
#ifndef DOMUS_NETSTACK_H
#define DOMUS_NETSTACK_H

#ifdef __cplusplus
extern "C" {
#endif

#define DOMUS_NET_DHCP_WAIT_MS 10000

/* Starts the stack and the interfaces (once; later calls return the first result).
 * Returns the number of interfaces with an address, or a negative errno. */
int domus_net_start(void);

#ifdef __cplusplus
}
#endif

#endif
