/* iperf: lwIP's lwiperf, which speaks iperf 2's protocol, so Debian's `iperf` is the
 * peer. "iperf" serves on port 5001 (the host runs `iperf -c <guest>`); "iperf -c ADDR
 * [SECONDS]" sends to an `iperf -s` there. Each finished test prints
 * "iperf: <local|remote> <bytes> bytes <ms> ms <kbit/s> kbit/s". */
#include <arpa/inet.h>
#include <lwip/apps/lwiperf.h>
#include <lwip/tcpip.h>

#include <domus/guest.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static domus_sem_t done = DOMUS_SEM_INIT(0);

static void report(void* arg, enum lwiperf_report_type type, const ip_addr_t* local_addr,
    u16_t local_port, const ip_addr_t* remote_addr, u16_t remote_port, u32_t bytes, u32_t ms,
    u32_t kbits_per_sec)
{
    (void)arg, (void)local_addr, (void)local_port, (void)remote_port;
    char remote[16];
    ip4addr_ntoa_r(ip_2_ip4(remote_addr), remote, sizeof remote);
    const char* what = type == LWIPERF_TCP_DONE_SERVER ? "served"
        : type == LWIPERF_TCP_DONE_CLIENT              ? "sent"
                                                       : "aborted";
    printf("iperf: %s %s %lu bytes %lu ms %lu kbit/s\n", what, remote, (unsigned long)bytes,
        (unsigned long)ms, (unsigned long)kbits_per_sec);
    fflush(stdout);
    domus_sem_up(&done);
}

int main(int argc, char** argv)
{
    if (argc >= 3 && !strcmp(argv[1], "-c")) {
        ip_addr_t server;
        if (!ipaddr_aton(argv[2], &server)) {
            printf("iperf: \"%s\" is not an IPv4 address\n", argv[2]);
            return 2;
        }
        LOCK_TCPIP_CORE();
        void* session = lwiperf_start_tcp_client_default(&server, report, NULL);
        UNLOCK_TCPIP_CORE();
        if (!session) {
            printf("iperf: cannot start the client\n");
            return 1;
        }
        domus_sem_down(&done);
        return 0;
    }
    LOCK_TCPIP_CORE();
    void* session = lwiperf_start_tcp_server_default(report, NULL);
    UNLOCK_TCPIP_CORE();
    if (!session) {
        printf("iperf: cannot listen on %d\n", LWIPERF_TCP_PORT_DEFAULT);
        return 1;
    }
    printf("iperf: listening on %d\n", LWIPERF_TCP_PORT_DEFAULT);
    fflush(stdout);
    for (;;)
        domus_sem_down(&done);
}
