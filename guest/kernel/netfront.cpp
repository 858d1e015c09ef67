// Finding and connecting a vif (PV ABI reference 10; Linux's netfront handshake):
// net_open reads device/vif/<n>'s backend and mac, waits for the backend's InitWait,
// sets up both ring pages, the buffer pages, their grants and an event channel, posts
// every RX page, publishes tx-ring-ref, rx-ring-ref, event-channel and its features
// (request-rx-copy; no checksum offload, scatter-gather or GSO) with state Initialised
// in one transaction, waits for the backend's Connected and says Connected too. A
// backend that later closes fails the interface.
#include "netfront.hpp"

#include "events.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"
#include "xenbus.hpp"
#include "xenbus_device.hpp"

#include <domus/abi/blkif.h> // enum xenbus_state
#include <errno.h>
#include <stdlib.h>
#include <string.h>

namespace domus::guest::netfront {

namespace {

    domus_mutex_t open_lock = DOMUS_MUTEX_INIT; // serialises opens (and the handshakes)
    Nic* nics[NET_MAX_OPEN];
    int nr_nics; // written under open_lock (release), read anywhere (acquire)

    int write_state(Nic* n, int state) { return xenbus_device::write_state(n->fe_path, state); }

    int wait_backend(Nic* n, int want)
    {
        return xenbus_device::wait_backend(n->be_path, &n->state_gen, want, kHandshakeTimeoutNs);
    }

    void on_backend_state(const char*, const char*, void* arg)
    {
        auto* n = static_cast<Nic*>(arg);
        __atomic_fetch_add(&n->state_gen, 1u, __ATOMIC_RELEASE);
        if (!__atomic_load_n(&n->connected, __ATOMIC_ACQUIRE))
            return;
        int state = xenbus_device::backend_state(n->be_path);
        if (state != XenbusStateClosing && state != XenbusStateClosed)
            return;
        fail(n, "backend closed", unsigned(state));
        if (!__atomic_exchange_n(&n->fail_reported, true, __ATOMIC_ACQ_REL)) {
            write_state(n, XenbusStateClosing);
            write_state(n, XenbusStateClosed); // the pages stay granted, never reused
        }
    }

    // A page granted to the backend (read-only for TX). Its grant ref, or a negative errno.
    int granted_page(Nic* n, bool readonly, void** page)
    {
        *page = page_alloc(1);
        if (!*page)
            return -ENOMEM;
        memset(*page, 0, kPageSize);
        return gnttab_grant_access(n->backend_id, *page, readonly ? 1 : 0);
    }

    // Both rings, every buffer, their grants and the event channel. 0 or a negative errno.
    int setup(Nic* n)
    {
        void* page;
        int rc = granted_page(n, false, &page);
        if (rc < 0)
            return rc;
        n->tx.init(page, kPageSize);
        n->tx_ring_gref = grant_ref_t(rc);
        if ((rc = granted_page(n, false, &page)) < 0)
            return rc;
        n->rx.init(page, kPageSize);
        n->rx_ring_gref = grant_ref_t(rc);
        for (unsigned i = 0; i < kTxBuffers; ++i) {
            if ((rc = granted_page(n, true, &page)) < 0)
                return rc;
            n->tx_buf[i] = static_cast<uint8_t*>(page);
            n->tx_gref[i] = grant_ref_t(rc);
            n->tx_free[i] = uint16_t(i);
        }
        n->tx_free_count = kTxBuffers;
        for (unsigned i = 0; i < kRxBuffers; ++i) {
            if ((rc = granted_page(n, false, &page)) < 0)
                return rc;
            n->rx_buf[i] = static_cast<uint8_t*>(page);
            n->rx_gref[i] = grant_ref_t(rc);
        }
        if (evtchn_alloc_unbound(n->backend_id, &n->port) < 0)
            return -EIO; // a Xen errno: the message says which step failed
        evtchn_set_handler(n->port, on_event, n);
        evtchn_unmask(n->port);
        return post_all_rx(n);
    }

    int publish(Nic* n)
    {
        bool csum = n->offloads & NET_OFFLOAD_CSUM;
        bool gso = n->offloads & NET_OFFLOAD_GSO;
        xenbus_device::Node nodes[] = {
            { "tx-ring-ref", {} },
            { "rx-ring-ref", {} },
            { "event-channel", {} },
            { "request-rx-copy", "1" },
            { "feature-rx-notify", "1" },
            { "feature-no-csum-offload", { csum ? '0' : '1' } },
            { "feature-sg", { gso ? '1' : '0' } },
            { "feature-gso-tcpv4", { gso ? '1' : '0' } },
        };
        ksnprintf(nodes[0].value, sizeof nodes[0].value, "%u", n->tx_ring_gref);
        ksnprintf(nodes[1].value, sizeof nodes[1].value, "%u", n->rx_ring_gref);
        ksnprintf(nodes[2].value, sizeof nodes[2].value, "%u", n->port);
        return xenbus_device::publish_initialised(
            n->fe_path, nodes, unsigned(sizeof nodes / sizeof nodes[0]));
    }

    // The offloads asked for that the backend offers (its feature-* keys, as Linux reads
    // them: checksum offload is assumed, large packets need scatter-gather and GSO).
    unsigned granted_offloads(Nic* n, unsigned wanted)
    {
        unsigned granted = wanted & NET_OFFLOAD_CSUM;
        if ((wanted & NET_OFFLOAD_GSO) && granted
            && xenbus_device::read_number(n->be_path, "feature-sg", 0) == 1
            && xenbus_device::read_number(n->be_path, "feature-gso-tcpv4", 0) == 1)
            granted |= NET_OFFLOAD_GSO;
        return granted;
    }

    // Empty rings on the same pages (every TX page free, every RX page posted) and a new
    // event channel: what a reconnect after resume starts from.
    int reset(Nic* n)
    {
        n->tx.init(n->tx.page(), kPageSize);
        n->rx.init(n->rx.page(), kPageSize);
        for (unsigned i = 0; i < kTxBuffers; ++i) {
            n->tx_busy[i] = false;
            n->tx_free[i] = uint16_t(i);
        }
        n->tx_free_count = kTxBuffers;
        post_all_rx(n);
        if (evtchn_alloc_unbound(n->backend_id, &n->port) < 0)
            return -EIO;
        evtchn_set_handler(n->port, on_event, n);
        evtchn_unmask(n->port);
        return 0;
    }

    // The handshake with the backend at n->be_path: watch its state, wait for InitWait,
    // then either set everything up (first connect, asking for `offloads`) or reset the
    // rings (`again`: resumed in a new domain, where the backend must grant the same
    // offloads, which the stack above was built for), publish, wait for Connected.
    int handshake(Nic* n, unsigned offloads, bool again)
    {
        char token[32];
        char path[160];
        ksnprintf(token, sizeof token, "netfront-%u", n->devid);
        ksnprintf(path, sizeof path, "%s/state", n->be_path);
        const char* step = "watching the backend";
        int rc = xenbus_watch(path, token, on_backend_state, n);
        if (rc >= 0) {
            step = "backend InitWait";
            rc = wait_backend(n, XenbusStateInitWait);
            if (rc >= XenbusStateClosing)
                rc = -EIO;
        }
        if (rc >= 0 && !again) {
            n->offloads = granted_offloads(n, offloads);
            step = "rings";
            rc = setup(n);
        } else if (rc >= 0) {
            step = "the same offloads";
            rc = granted_offloads(n, n->offloads) == n->offloads ? reset(n) : -EPROTO;
        }
        if (rc >= 0) {
            step = "publishing the rings";
            rc = publish(n);
        }
        if (rc >= 0) {
            step = "backend Connected";
            rc = wait_backend(n, XenbusStateConnected);
            if (rc >= XenbusStateClosing)
                rc = -EIO;
        }
        if (rc >= 0) {
            __atomic_store_n(&n->connected, true, __ATOMIC_RELEASE);
            step = "state Connected";
            rc = write_state(n, XenbusStateConnected);
        }
        if (rc < 0) {
            printk("netfront: vif %u: %s failed%s (%d)\n", n->devid, step,
                again ? " after resume" : "", rc);
            __atomic_store_n(&n->failed, true, __ATOMIC_RELEASE);
            __atomic_store_n(&n->connected, false, __ATOMIC_RELEASE);
            xenbus_unwatch(path, token);
        }
        return rc;
    }

    int connect(Nic* n, unsigned offloads) { return handshake(n, offloads, false); }

    // "00:16:3e:01:02:03" -> bytes; false when malformed.
    bool parse_mac(const char* text, uint8_t mac[6])
    {
        for (int i = 0; i < 6; ++i) {
            char* end;
            unsigned long byte = strtoul(text + i * 3, &end, 16);
            if (end != text + i * 3 + 2 || byte > 0xff || (i < 5 && *end != ':'))
                return false;
            mac[i] = uint8_t(byte);
        }
        return text[17] == '\0';
    }

    Nic* make_nic(unsigned devid)
    {
        auto* n = static_cast<Nic*>(calloc(1, sizeof(Nic)));
        if (!n)
            return nullptr;
        n->devid = devid;
        n->tx_lock = DOMUS_MUTEX_INIT;
        n->rx_lock = DOMUS_MUTEX_INIT;
        ksnprintf(n->fe_path, sizeof n->fe_path, "device/vif/%u", devid);
        char path[96];
        ksnprintf(path, sizeof path, "%s/backend", n->fe_path);
        int length = xenbus_read(XBT_NIL, path, n->be_path, sizeof n->be_path);
        uint64_t backend_id = xenbus_device::read_number(n->fe_path, "backend-id", ~0ull);
        char mac[24] = {};
        ksnprintf(path, sizeof path, "%s/mac", n->fe_path);
        int mac_length = xenbus_read(XBT_NIL, path, mac, sizeof mac);
        if (length <= 0 || size_t(length) >= sizeof n->be_path || backend_id >= DOMID_FIRST_RESERVED
            || mac_length != 17 || !parse_mac(mac, n->mac)) {
            free(n);
            return nullptr;
        }
        n->backend_id = domid_t(backend_id);
        ksnprintf(path, sizeof path, "%s/ip", n->be_path);
        if (xenbus_read(XBT_NIL, path, n->ip, sizeof n->ip) <= 0)
            n->ip[0] = '\0';
        return n;
    }

    int open_locked(unsigned devid, unsigned offloads)
    {
        for (int i = 0; i < nr_nics; ++i)
            if (nics[i]->devid == devid)
                return nics[i]->failed ? -EIO : i;
        if (nr_nics == NET_MAX_OPEN)
            return -ENFILE;
        char path[48];
        char state[8];
        ksnprintf(path, sizeof path, "device/vif/%u/backend", devid);
        if (xenbus_read(XBT_NIL, path, state, sizeof state) < 0)
            return -ENOENT;
        Nic* n = make_nic(devid);
        if (!n) {
            printk("netfront: vif %u: no usable backend, backend-id or mac\n", devid);
            return -EIO;
        }
        int rc = connect(n, offloads);
        if (rc < 0)
            return rc; // not freed: the watch or the backend may still refer to it
        nics[nr_nics] = n;
        __atomic_store_n(&nr_nics, nr_nics + 1, __ATOMIC_RELEASE);
        return nr_nics - 1;
    }

} // namespace

int open(unsigned devid, unsigned offloads)
{
    if (!xenbus::enabled())
        return -ENODEV;
    mutex_lock(&open_lock);
    int rc = open_locked(devid, offloads);
    mutex_unlock(&open_lock);
    return rc;
}

Nic* nic(int handle)
{
    int count = __atomic_load_n(&nr_nics, __ATOMIC_ACQUIRE);
    return handle >= 0 && handle < count ? nics[handle] : nullptr;
}

} // namespace domus::guest::netfront

namespace domus::guest::netfront {

namespace {

    // Resumed in a new domain: the handshake again with the new backend (its path has
    // our new domain ID in it), on the same ring pages, buffer pages and grants (the
    // grant table came along), with empty rings and a new port. Both locks are held:
    // nothing moves until it is done. What was in flight is lost, as a network loses
    // frames anyway; the stack above is told, to announce its addresses again.
    int reconnect(Nic* n)
    {
        char token[32];
        char path[160];
        ksnprintf(token, sizeof token, "netfront-%u", n->devid);
        ksnprintf(path, sizeof path, "%s/state", n->be_path);
        xenbus_unwatch(path, token);
        char be[sizeof n->be_path];
        ksnprintf(path, sizeof path, "%s/backend", n->fe_path);
        int length = xenbus_read(XBT_NIL, path, be, sizeof be);
        if (length <= 0 || size_t(length) >= sizeof be)
            return -ENODEV;
        memcpy(n->be_path, be, sizeof be);
        return handshake(n, n->offloads, true);
    }

} // namespace

// Suspend (suspend.cpp): every interface quiesced. Its users leave the rings (senders and
// receivers waiting on the ring let go of their lock and wait for the resume), and both
// locks are kept until resume(). The backend-state watch ignores the old backend meanwhile.
void suspend()
{
    int count = __atomic_load_n(&nr_nics, __ATOMIC_ACQUIRE);
    for (int i = 0; i < count; ++i) {
        Nic* n = nics[i];
        __atomic_store_n(&n->quiesced, true, __ATOMIC_RELEASE);
        n->was_connected = __atomic_exchange_n(&n->connected, false, __ATOMIC_ACQ_REL);
        waitq_wake_all(&n->waiters);
        mutex_lock(&n->tx_lock);
        mutex_lock(&n->rx_lock);
    }
}

void resume(bool new_domain)
{
    int count = __atomic_load_n(&nr_nics, __ATOMIC_ACQUIRE);
    for (int i = 0; i < count; ++i) {
        Nic* n = nics[i];
        bool usable = n->was_connected && !__atomic_load_n(&n->failed, __ATOMIC_ACQUIRE);
        if (!new_domain) {
            __atomic_store_n(&n->connected, n->was_connected, __ATOMIC_RELEASE);
        } else if (usable && reconnect(n) < 0) {
            fail(n, "cannot reconnect after resume", n->devid);
            usable = false;
        } else if (usable) {
            printk("netfront: vif %u reconnected\n", n->devid);
        }
        __atomic_store_n(&n->quiesced, false, __ATOMIC_RELEASE);
        mutex_unlock(&n->rx_lock);
        mutex_unlock(&n->tx_lock);
        waitq_wake_all(&n->resumed);
        waitq_wake_all(&n->waiters);
        if (new_domain && usable && domus_net_resumed)
            domus_net_resumed(i);
    }
}

} // namespace domus::guest::netfront
