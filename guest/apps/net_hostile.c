/* net_hostile: a malicious netif frontend against the monitor's netback.
 *
 * Needs two vifs: device/vif/0, which this app drives by hand, and device/vif/1 with an
 * ip=, which the kernel's netfront connects and a responder thread serves (ARP, ping,
 * UDP echo: frame_responder.h), so the host can see that the domain's other interface
 * keeps working while vif 0 is attacked and then shut.
 *
 * vif 0 is negotiated as any frontend would: zeroed TX and RX ring pages granted to the
 * backend, an unbound event channel, the ring references and state Initialised in one
 * transaction, then Connected once the backend is. Requests are copied into slots,
 * req_prod published with a release store and the port notified; responses are polled
 * with a time limit, so a backend that stops answering is reported, not waited for.
 *
 * TX cases, each followed by a good frame that must still be sent (RSP_OKAY):
 *   bad-gref, zero-length, oversized (a size over 64 KiB claimed: 65535 in one page),
 *   cross-page (offset + size past the page), 19-slot (one more than
 *   XEN_NETIF_NR_SLOTS_MIN), bad-gso (a GSO slot of size 0), fragment-sizes (the
 *   fragments add up to more than the first slot's total).
 * RX: pages posted with bad grant references; the host's broadcasts then cannot be
 * copied and come back as errors (counted, not required: they depend on traffic).
 * Last, ring overrun: req_prod far past what the ring can hold. The backend must stop
 * serving vif 0 (its state leaves Connected) and answer nothing more.
 * Prints "net_hostile: PASS" (exit 0) or "net_hostile: FAIL <case>: <what>" (exit 1). */
#include "frame_responder.h"

#include <domus/abi/blkif.h>
#include <domus/abi/netif.h>
#include <domus/gnttab.h>
#include <domus/guest.h>
#include <domus/net.h>
#include <domus/xenbus.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESPONSE_MS 3000

static char be_dir[128];
static domid_t backend_id;
static evtchn_port_t port;
static struct ring_sring_header* tx_hdr;
static union netif_tx_sring_entry* tx_ent;
static struct ring_sring_header* rx_hdr;
static union netif_rx_sring_entry* rx_ent;
static RING_IDX tx_prod, tx_cons, rx_prod;
static uint8_t* frame_page;
static grant_ref_t frame_gref;
static int failures;
static unsigned rx_errors;

static void fail(const char* test, const char* what, long value)
{
    printf("net_hostile: %s %s: %s (%ld)\n", failures ? "also" : "FAIL", test, what, value);
    ++failures;
}

static void* granted_page(int readonly, grant_ref_t* ref)
{
    void* p = aligned_alloc(4096, 4096);
    memset(p, 0, 4096);
    int rc = gnttab_grant_access(backend_id, p, readonly);
    if (rc < 0) {
        printf("net_hostile: FAIL setup: grant: %d\n", rc);
        exit(1);
    }
    *ref = (grant_ref_t)rc;
    return p;
}

static long read_state(const char* dir)
{
    char path[160], value[16];
    snprintf(path, sizeof path, "%s/state", dir);
    if (xenbus_read(XBT_NIL, path, value, sizeof value) <= 0)
        return -1;
    return strtol(value, NULL, 10);
}

static int wait_backend(long state, unsigned ms)
{
    uint64_t end = domus_monotonic_ns() + (uint64_t)ms * 1000000u;
    while (domus_monotonic_ns() < end) {
        if (read_state(be_dir) == state)
            return 0;
        domus_sleep_ms(5);
    }
    return -1;
}

static void setup(void)
{
    char value[16];
    if (xenbus_read(XBT_NIL, "device/vif/0/backend", be_dir, sizeof be_dir) <= 0
        || xenbus_read(XBT_NIL, "device/vif/0/backend-id", value, sizeof value) <= 0) {
        printf("net_hostile: FAIL setup: no device/vif/0\n");
        exit(1);
    }
    backend_id = (domid_t)strtoul(value, NULL, 10);
    if (wait_backend(XenbusStateInitWait, 10000) < 0) {
        printf("net_hostile: FAIL setup: backend not in InitWait (%ld)\n", read_state(be_dir));
        exit(1);
    }
    grant_ref_t tx_ref, rx_ref;
    tx_hdr = granted_page(0, &tx_ref);
    tx_ent = (union netif_tx_sring_entry*)(tx_hdr + 1);
    rx_hdr = granted_page(0, &rx_ref);
    rx_ent = (union netif_rx_sring_entry*)(rx_hdr + 1);
    tx_hdr->req_event = tx_hdr->rsp_event = 1;
    rx_hdr->req_event = rx_hdr->rsp_event = 1;
    frame_page = granted_page(1, &frame_gref);
    if (domus_evtchn_alloc_unbound(backend_id, &port) < 0) {
        printf("net_hostile: FAIL setup: event channel\n");
        exit(1);
    }
    xenbus_transaction_t tx;
    for (;;) {
        xenbus_transaction_start(&tx);
        xenbus_printf(tx, "device/vif/0", "tx-ring-ref", "%u", tx_ref);
        xenbus_printf(tx, "device/vif/0", "rx-ring-ref", "%u", rx_ref);
        xenbus_printf(tx, "device/vif/0", "event-channel", "%u", port);
        xenbus_write(tx, "device/vif/0/request-rx-copy", "1");
        xenbus_write(tx, "device/vif/0/feature-rx-notify", "1");
        xenbus_write(tx, "device/vif/0/feature-no-csum-offload", "1");
        xenbus_printf(tx, "device/vif/0", "state", "%d", XenbusStateInitialised);
        if (xenbus_transaction_end(tx, 0) != -EAGAIN)
            break;
    }
    if (wait_backend(XenbusStateConnected, 10000) < 0) {
        printf("net_hostile: FAIL setup: backend not Connected (%ld)\n", read_state(be_dir));
        exit(1);
    }
    xenbus_printf(XBT_NIL, "device/vif/0", "state", "%d", XenbusStateConnected);
    /* A broadcast ARP request (who has 10.77.0.254), the good frame of every case. */
    static const uint8_t arp[42] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0x16, 0x3e, 0, 0, 1,
        0x08, 0x06, 0, 1, 0x08, 0, 6, 4, 0, 1, 0, 0x16, 0x3e, 0, 0, 1, 10, 77, 0, 250, 0, 0, 0, 0,
        0, 0, 10, 77, 0, 254 };
    memcpy(frame_page, arp, sizeof arp);
}

static void push(struct netif_tx_request request)
{
    memcpy(&tx_ent[tx_prod & (NET_TX_RING_SIZE - 1)].req, &request, sizeof request);
    ++tx_prod;
}

static void publish(void)
{
    __atomic_store_n(&tx_hdr->req_prod, tx_prod, __ATOMIC_RELEASE);
    domus_evtchn_notify(port);
}

/* Waits for every request pushed to be answered; the status of the first data slot's
 * response (the packet's), or 99 when the backend went quiet. */
static int collect(void)
{
    uint64_t end = domus_monotonic_ns() + (uint64_t)RESPONSE_MS * 1000000u;
    int status = 99;
    int first = 1;
    while (tx_cons != tx_prod) {
        RING_IDX prod = __atomic_load_n(&tx_hdr->rsp_prod, __ATOMIC_ACQUIRE);
        if (prod == tx_cons) {
            if (domus_monotonic_ns() > end)
                return 99;
            domus_sleep_us(200);
            continue;
        }
        struct netif_tx_response r = tx_ent[tx_cons & (NET_TX_RING_SIZE - 1)].rsp;
        ++tx_cons;
        if (first && r.status != XEN_NETIF_RSP_NULL) {
            status = r.status;
            first = 0;
        }
    }
    return status;
}

static struct netif_tx_request good_request(void)
{
    struct netif_tx_request r = { frame_gref, 0, 0, 0, 42 };
    return r;
}

static void expect(const char* test, int want)
{
    publish();
    int got = collect();
    if (got != want)
        fail(test, "unexpected status", got);
    push(good_request());
    publish();
    got = collect();
    if (got != XEN_NETIF_RSP_OKAY)
        fail(test, "a good frame after it was refused", got);
}

static void tx_cases(void)
{
    struct netif_tx_request r = good_request();
    push(r);
    expect("good", XEN_NETIF_RSP_OKAY);

    r = good_request();
    r.gref = 0x7fffff;
    push(r);
    expect("bad-gref", XEN_NETIF_RSP_ERROR);

    r = good_request();
    r.size = 0;
    push(r);
    expect("zero-length", XEN_NETIF_RSP_ERROR);

    r = good_request();
    r.size = 65535;
    push(r);
    expect("oversized", XEN_NETIF_RSP_ERROR);

    r = good_request();
    r.offset = 4000;
    r.size = 200;
    push(r);
    expect("cross-page", XEN_NETIF_RSP_ERROR);

    for (unsigned i = 0; i < XEN_NETIF_NR_SLOTS_MIN + 1; ++i) {
        r = good_request();
        r.size = (uint16_t)(i == 0 ? 60 * (XEN_NETIF_NR_SLOTS_MIN + 1) : 60);
        r.flags = i < XEN_NETIF_NR_SLOTS_MIN ? NETTXF_more_data : 0;
        r.id = (uint16_t)i;
        push(r);
    }
    expect("19-slot", XEN_NETIF_RSP_ERROR);

    r = good_request();
    r.flags = NETTXF_extra_info | NETTXF_csum_blank;
    push(r);
    struct netif_extra_info gso = { 0 };
    gso.type = XEN_NETIF_EXTRA_TYPE_GSO;
    gso.u.gso.size = 0;
    gso.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
    struct netif_tx_request slot;
    memset(&slot, 0, sizeof slot);
    memcpy(&slot, &gso, sizeof gso);
    push(slot);
    expect("bad-gso", XEN_NETIF_RSP_ERROR);

    r = good_request();
    r.size = 42;
    r.flags = NETTXF_more_data;
    push(r);
    r = good_request();
    r.size = 100; /* the fragments alone exceed the packet's total */
    push(r);
    expect("fragment-sizes", XEN_NETIF_RSP_ERROR);
}

static void rx_bad_grants(void)
{
    for (unsigned i = 0; i < 8; ++i) {
        struct netif_rx_request r = { (uint16_t)i, 0, 0x7fff00 + i };
        memcpy(&rx_ent[rx_prod & (NET_RX_RING_SIZE - 1)].req, &r, sizeof r);
        ++rx_prod;
    }
    __atomic_store_n(&rx_hdr->req_prod, rx_prod, __ATOMIC_RELEASE);
    domus_evtchn_notify(port);
    domus_sleep_ms(500); /* the host's ARP broadcasts come by now and then */
    RING_IDX prod = __atomic_load_n(&rx_hdr->rsp_prod, __ATOMIC_ACQUIRE);
    for (RING_IDX i = 0; i != prod && i < rx_prod; ++i)
        if (rx_ent[i & (NET_RX_RING_SIZE - 1)].rsp.status < 0)
            ++rx_errors;
}

static void overrun(void)
{
    tx_prod += 1000;
    publish();
    uint64_t end = domus_monotonic_ns() + 5000000000ull;
    while (read_state(be_dir) == XenbusStateConnected && domus_monotonic_ns() < end)
        domus_sleep_ms(10);
    long state = read_state(be_dir);
    if (state == XenbusStateConnected)
        fail("overrun", "the backend kept serving a broken ring", state);
    printf("net_hostile: overrun: backend state %ld\n", state);
}

struct responder_args {
    int nic;
    struct net_info info;
    uint8_t ip[4];
};

static void responder(void* arg)
{
    struct responder_args* a = arg;
    long rc = responder_serve(a->nic, a->info.mac, a->ip);
    printf("net_hostile: vif 1 responder stopped (%ld)\n", rc);
}

int main(void)
{
    static struct responder_args good;
    good.nic = net_open(1, &good.info);
    if (good.nic < 0 || responder_parse_ip(good.info.ip, good.ip) < 0) {
        printf("net_hostile: FAIL setup: vif 1 (%d, ip \"%s\")\n", good.nic, good.info.ip);
        return 1;
    }
    domus_thread_attr_t attr = { 0 };
    attr.name = "responder";
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    domus_thread_create(responder, &good, &attr);
    setup();
    printf("net_hostile: ready\n");
    fflush(stdout);
    tx_cases();
    rx_bad_grants();
    overrun();
    printf("net_hostile: rx_errors %u\n", rx_errors);
    if (failures)
        return 1;
    printf("net_hostile: PASS\n");
    fflush(stdout);
    for (;;)
        domus_sleep_ms(1000); /* vif 1 keeps answering until the domain is destroyed */
}
