/* frame_responder: answers a PV interface's frames with nothing but <domus/net.h>: ARP
 * requests for its address, ICMP echo requests (ping) and UDP datagrams to port 7
 * (echoed back). Shared by net_echo and net_hostile. */
#ifndef DOMUS_FRAME_RESPONDER_H
#define DOMUS_FRAME_RESPONDER_H

#include <stdint.h>

/* "A.B.C.D[/LEN]" -> the address; -1 when malformed. */
int responder_parse_ip(const char* text, uint8_t out[4]);
/* Serves interface `nic` (opened) as mac/ip until it fails; returns the failing call's
 * result (negative). */
long responder_serve(int nic, const uint8_t mac[6], const uint8_t ip[4]);

#endif
