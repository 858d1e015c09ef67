/* lwIP's configuration for Domus guests: the full stack with threads (sockets and the
 * netconn API over a tcpip thread, core locking so socket calls run the stack in the
 * caller's thread), IPv4 with DHCP, DNS, ICMP and raw sockets, large TCP windows with
 * window scaling, and memory from newlib's malloc rather than fixed pools. */
#ifndef DOMUS_LWIPOPTS_H
#define DOMUS_LWIPOPTS_H

#define NO_SYS 0
#define SYS_LIGHTWEIGHT_PROT 1
#define LWIP_TCPIP_CORE_LOCKING 1
#define LWIP_TCPIP_CORE_LOCKING_INPUT 1 /* frames go up in the receiving thread */
#define LWIP_NETCONN_SEM_PER_THREAD 0

/* Memory: the heap, so a domain's memory bounds the stack, not compile-time pools. */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define PBUF_POOL_BUFSIZE 1536 /* one whole frame (1514) per pool pbuf */
#define MEMP_NUM_NETCONN 40 /* sockets: fds 16..55, under newlib's FD_SETSIZE 64 */
#define MEMP_NUM_TCP_PCB 64
#define MEMP_NUM_TCP_PCB_LISTEN 16
#define MEMP_NUM_UDP_PCB 16
#define MEMP_NUM_RAW_PCB 8
#define MEMP_NUM_SYS_TIMEOUT (LWIP_NUM_SYS_TIMEOUT_INTERNAL + 8)

/* Protocols. */
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ARP 1
#define LWIP_ETHERNET 1
#define LWIP_ICMP 1
#define LWIP_RAW 1
#define LWIP_UDP 1
#define LWIP_TCP 1
#define LWIP_DHCP 1
#define DHCP_DOES_ARP_CHECK 0 /* no 1-2 s probe before using the lease */
#define LWIP_DNS 1
#define DNS_MAX_SERVERS 2
#define LWIP_IGMP 1
#define IP_REASSEMBLY 1
#define IP_FRAG 1
#define IP_REASS_MAX_PBUFS 64 /* a 64 KiB datagram in 1500-byte fragments: 45 */
#define LWIP_NETIF_HOSTNAME 1
#define LWIP_NETIF_STATUS_CALLBACK 1
#define LWIP_NETIF_LINK_CALLBACK 1
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_HAVE_LOOPIF 1
#define LWIP_CHECKSUM_CTRL_PER_NETIF 1
#define ETHARP_SUPPORT_STATIC_ENTRIES 1

/* TCP: full-size segments, large windows (scaled), fast retransmit, keepalive. */
/* Segments of TCP_MSS go out whole when the backend segments them (GSO, see
 * netfront_netif.c); lwIP's sanity checks bound it with TCP_SNDLOWAT below 64 KiB. */
#define TCP_MSS 14600
#define LWIP_WND_SCALE 1
/* A guest's round trip is ~0.2-0.7 ms (an event to a halted vCPU), so 5 Gbit/s needs
 * 2 MiB in flight: windows of 2 MiB (scaled by 2^6, at most 4 MiB). */
#define TCP_RCV_SCALE 6
#define TCP_WND (2 * 1024 * 1024)
#define TCP_SND_BUF (2 * 1024 * 1024)
#define TCP_SND_QUEUELEN (4 * TCP_SND_BUF / TCP_MSS)
#define TCP_SNDLOWAT 4096 /* lwIP: below 0xffff - 4 * TCP_MSS */
#define TCP_OVERSIZE TCP_MSS
#define LWIP_TCP_KEEPALIVE 1
#define TCP_LISTEN_BACKLOG 1
#define TCP_QUEUE_OOSEQ 1
#define LWIP_TCP_SACK_OUT 0

/* Threads and mailboxes. */
#define TCPIP_THREAD_NAME "tcpip"
#define TCPIP_THREAD_STACKSIZE (64 * 1024)
#define TCPIP_MBOX_SIZE 512
#define DEFAULT_THREAD_STACKSIZE (64 * 1024)
#define DEFAULT_RAW_RECVMBOX_SIZE 64
#define DEFAULT_UDP_RECVMBOX_SIZE 256
#define DEFAULT_TCP_RECVMBOX_SIZE 1024
#define DEFAULT_ACCEPTMBOX_SIZE 64

/* Sockets: real POSIX names come from the guest libc (posix_sockets.c), not macros. */
#define LWIP_SOCKET 1
#define LWIP_NETCONN 1
#define LWIP_COMPAT_SOCKETS 0
#define LWIP_POSIX_SOCKETS_IO_NAMES 0
#define LWIP_SOCKET_OFFSET 16 /* fds below are newlib's (0-2 the console) */
#define LWIP_SOCKET_SELECT 1
#define LWIP_SOCKET_POLL 1
#define LWIP_SO_RCVTIMEO 1
#define LWIP_SO_SNDTIMEO 1
#define LWIP_SO_RCVBUF 1
#define LWIP_SO_LINGER 1
#define SO_REUSE 1
#define LWIP_FIONREAD_LINUXMODE 1
#define LWIP_NETIF_API 1

#define LWIP_STATS 1
#define LWIP_STATS_DISPLAY 0
#define MEM_STATS 0
#define MEMP_STATS 0
#define SYS_STATS 0

#endif
