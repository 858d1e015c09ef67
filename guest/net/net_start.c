/* Bringing the stack up (see <domus/netstack.h>): the tcpip thread, one netif per
 * device/vif/<n>, static addresses from the `ip` key or DHCP, and the addresses
 * published in the store. */
#include "netfront_netif.h"

#include <domus/netstack.h>
#include <domus/xenbus.h>
#include <lwip/dhcp.h>
#include <lwip/dns.h>
#include <lwip/etharp.h>
#include <lwip/netifapi.h>
#include <lwip/tcpip.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static domus_mutex_t start_lock = DOMUS_MUTEX_INIT;
static int started;
static int start_result;
static struct domus_nic nics[NET_MAX_OPEN];
static unsigned nr_nics; /* under start_lock */
static int have_default; /* under start_lock */
static domus_sem_t address_changed = DOMUS_SEM_INIT(0);
static domus_sem_t vifs_changed = DOMUS_SEM_INIT(0);

static void tcpip_ready(void* arg) { domus_sem_up((domus_sem_t*)arg); }

static void status_changed(struct netif* netif)
{
    (void)netif;
    domus_sem_up(&address_changed);
}

/* "A.B.C.D[/LEN] ..." (the first address of xl's ip=) into ip, mask and gateway. */
static int parse_static(const char* text, ip4_addr_t* ip, ip4_addr_t* mask, ip4_addr_t* gw)
{
    char first[32];
    size_t n = strcspn(text, " ,");
    if (n == 0 || n >= sizeof first)
        return -1;
    memcpy(first, text, n);
    first[n] = '\0';
    char* slash = strchr(first, '/');
    long length = -1;
    if (slash) {
        *slash = '\0';
        char* end;
        length = strtol(slash + 1, &end, 10);
        if (*end || length < 1 || length > 30)
            return -1;
    }
    if (!ip4addr_aton(first, ip))
        return -1;
    if (length < 0) {
        ip4_addr_set_zero(mask); /* all on-link */
        ip4_addr_set_zero(gw);
        return 0;
    }
    u32_t m = length ? 0xffffffffu << (32 - length) : 0;
    u32_t host = lwip_ntohl(ip4_addr_get_u32(ip));
    u32_t gateway = (host & m) + 1;
    if (gateway == host)
        ++gateway;
    ip4_addr_set_u32(mask, lwip_htonl(m));
    ip4_addr_set_u32(gw, lwip_htonl(gateway));
    return 0;
}

static int prefix_length(const ip4_addr_t* mask)
{
    return __builtin_popcount(ip4_addr_get_u32(mask));
}

static void publish(struct domus_nic* nic, int dhcp)
{
    char ip[16], gw[16];
    ip4addr_ntoa_r(netif_ip4_addr(&nic->netif), ip, sizeof ip);
    ip4addr_ntoa_r(netif_ip4_gw(&nic->netif), gw, sizeof gw);
    printf("net: en%u %s/%d gw %s (%s)\n", nic->devid, ip,
        prefix_length(netif_ip4_netmask(&nic->netif)), gw, dhcp ? "dhcp" : "static");
    char path[48];
    snprintf(path, sizeof path, "attr/vif/%u/ipv4/0", nic->devid);
    xenbus_write(XBT_NIL, path, ip);
}

/* Adds device/vif/<devid> for each of `devids` (start_lock held); returns how many got
 * an address. */
static int add_interfaces(const unsigned* devids, unsigned count)
{
    char mode[8];
    int force_dhcp = domus_cmdline_get("ip", mode, sizeof mode) && !strcmp(mode, "dhcp");
    int configured = 0;
    int waiting[NET_MAX_OPEN] = { 0 };
    unsigned first = nr_nics;
    if (count > NET_MAX_OPEN - first)
        count = NET_MAX_OPEN - first;
    for (unsigned k = 0; k < count; ++k) {
        unsigned i = first + k;
        struct domus_nic* nic = &nics[i];
        ++nr_nics;
        nic->devid = devids[k];
        nic->handle = net_open_offload(nic->devid, NET_OFFLOAD_CSUM | NET_OFFLOAD_GSO, &nic->info);
        if (nic->handle < 0) {
            printf("net: vif %u: cannot connect (%d)\n", nic->devid, nic->handle);
            continue;
        }
        ip4_addr_t ip, mask, gw;
        int dhcp = 1;
        ip4_addr_set_zero(&ip);
        ip4_addr_set_zero(&mask);
        ip4_addr_set_zero(&gw);
        if (nic->info.ip[0] && !force_dhcp) {
            if (parse_static(nic->info.ip, &ip, &mask, &gw) == 0)
                dhcp = 0;
            else
                printf("net: vif %u: ip \"%s\" is not A.B.C.D[/LEN]; using DHCP\n", nic->devid,
                    nic->info.ip);
        }
        if (domus_nic_add(nic, &ip, &mask, &gw) < 0) {
            printf("net: vif %u: out of memory\n", nic->devid);
            continue;
        }
        if (!have_default) {
            netifapi_netif_set_default(&nic->netif);
            have_default = 1;
        }
        if (!dhcp) {
            if (!ip4_addr_isany_val(gw)) {
                ip_addr_t dns;
                ip_addr_copy_from_ip4(dns, gw);
                dns_setserver(0, &dns);
            }
            publish(nic, 0);
            ++configured;
            continue;
        }
        netif_set_status_callback(&nic->netif, status_changed);
        netifapi_dhcp_start(&nic->netif);
        waiting[i] = 1;
    }
    uint64_t deadline = domus_monotonic_ns() + (uint64_t)DOMUS_NET_DHCP_WAIT_MS * 1000000u;
    for (;;) {
        int pending = 0;
        for (unsigned i = first; i < first + count; ++i) {
            if (!waiting[i])
                continue;
            LOCK_TCPIP_CORE();
            int bound = dhcp_supplied_address(&nics[i].netif);
            UNLOCK_TCPIP_CORE();
            if (bound) {
                waiting[i] = 0;
                publish(&nics[i], 1);
                ++configured;
            } else {
                ++pending;
            }
        }
        if (!pending || !domus_sem_down_until(&address_changed, deadline))
            break;
    }
    for (unsigned i = first; i < first + count; ++i)
        if (waiting[i])
            printf("net: en%u: no DHCP lease after %d ms (still asking)\n", nics[i].devid,
                DOMUS_NET_DHCP_WAIT_MS);
    return configured;
}

static int compare_unsigned(const void* a, const void* b)
{
    unsigned x = *(const unsigned*)a, y = *(const unsigned*)b;
    return x < y ? -1 : x > y;
}

static int known(unsigned devid)
{
    for (unsigned i = 0; i < nr_nics; ++i)
        if (nics[i].devid == devid)
            return 1;
    return 0;
}

/* The interfaces under device/vif not added yet, sorted. */
static unsigned new_devids(unsigned* devids)
{
    char names[256];
    int n = xenbus_available() ? xenbus_directory(XBT_NIL, "device/vif", names, sizeof names) : 0;
    unsigned count = 0;
    for (const char* name = names; n > 0 && count < NET_MAX_OPEN; --n, name += strlen(name) + 1) {
        unsigned devid = (unsigned)strtoul(name, NULL, 10);
        if (!known(devid))
            devids[count++] = devid;
    }
    qsort(devids, count, sizeof devids[0], compare_unsigned);
    return count;
}

/* Interfaces attached to the running domain (xl network-attach): the watch on device/vif
 * wakes this thread, which adds each new one as at boot. A detached one goes down with
 * its backend (the receive thread sees the interface closed). */
static void on_vifs_changed(const char* path, const char* token, void* arg)
{
    (void)path, (void)token, (void)arg;
    domus_sem_up(&vifs_changed);
}

static void hotplug_thread(void* arg)
{
    (void)arg;
    for (;;) {
        domus_sem_down(&vifs_changed);
        while (domus_sem_trydown(&vifs_changed))
            ; /* events coalesce: one look covers them all */
        domus_mutex_lock(&start_lock);
        unsigned devids[NET_MAX_OPEN];
        unsigned count = new_devids(devids);
        /* The toolstack writes a new device's nodes one by one: wait for its backend. */
        unsigned ready = 0;
        for (unsigned i = 0; i < count; ++i) {
            char path[48], value[8];
            snprintf(path, sizeof path, "device/vif/%u/backend-id", devids[i]);
            if (xenbus_read(XBT_NIL, path, value, sizeof value) > 0)
                devids[ready++] = devids[i];
        }
        if (ready) {
            if (nr_nics + ready > NET_MAX_OPEN)
                printf("net: at most %d interfaces; vif %u and later are not used\n", NET_MAX_OPEN,
                    devids[NET_MAX_OPEN - nr_nics]);
            add_interfaces(devids, ready);
        }
        domus_mutex_unlock(&start_lock);
    }
}

int domus_net_start(void)
{
    domus_mutex_lock(&start_lock);
    if (started) {
        domus_mutex_unlock(&start_lock);
        return start_result;
    }
    started = 1;
    domus_sem_t ready = DOMUS_SEM_INIT(0);
    tcpip_init(tcpip_ready, &ready);
    domus_sem_down(&ready);

    unsigned devids[NET_MAX_OPEN];
    unsigned count = new_devids(devids);
    start_result = count ? add_interfaces(devids, count) : 0;
    if (!count)
        printf("net: no network interfaces yet (device/vif is empty)\n");
    if (xenbus_available()) {
        domus_thread_attr_t attr = { 0 };
        attr.name = "net-hotplug";
        attr.vcpu = DOMUS_ANY_VCPU;
        attr.detached = 1;
        if (domus_thread_create(hotplug_thread, NULL, &attr))
            xenbus_watch("device/vif", "domus-net", on_vifs_changed, NULL);
    }
    domus_mutex_unlock(&start_lock);
    return start_result;
}

static void announce(void* arg)
{
    struct netif* netif = arg;
    if (!ip4_addr_isany_val(*netif_ip4_addr(netif)))
        etharp_gratuitous(netif);
}

/* netfront's hook (guest/kernel/netfront.hpp): interface `handle` reconnected in a new
 * domain, after a migration or a restore. As Linux's netfront does, the guest says where
 * its addresses are now (a gratuitous ARP: bridges and neighbours learn the new port),
 * and its address goes to the new host's store. */
void domus_net_resumed(int handle)
{
    for (unsigned i = 0; i < nr_nics; ++i) {
        if (nics[i].handle != handle)
            continue;
        tcpip_callback(announce, &nics[i].netif);
        if (!ip4_addr_isany_val(*netif_ip4_addr(&nics[i].netif))) {
            char ip[16], path[48];
            ip4addr_ntoa_r(netif_ip4_addr(&nics[i].netif), ip, sizeof ip);
            snprintf(path, sizeof path, "attr/vif/%u/ipv4/0", nics[i].devid);
            xenbus_write(XBT_NIL, path, ip);
        }
        printf("net: en%u announced after resume\n", nics[i].devid);
    }
}

__attribute__((constructor)) static void start_at_boot(void) { domus_net_start(); }
