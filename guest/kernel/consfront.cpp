// Finding and connecting channels (PV ABI reference 6.3 and 10.2): channel_open lists
// device/console, picks the device whose `name` matches, waits for its backend's
// InitWait, sets up the ring page, its grant and an event channel, publishes `ring-ref`
// and `port` with state Initialised in one transaction (as Xen's console frontends do),
// waits for the backend's Connected and says Connected too. A backend that later closes
// fails the channel.
#include "consfront.hpp"

#include "events.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"
#include "time.hpp"
#include "xenbus.hpp"
#include "xenbus_device.hpp"

#include <domus/abi/blkif.h> // enum xenbus_state
#include <errno.h>
#include <stdlib.h>
#include <string.h>

namespace domus::guest::consfront {

namespace {

    domus_mutex_t open_lock = DOMUS_MUTEX_INIT; // serialises opens (and the handshakes)
    Channel* channels[CHANNEL_MAX_OPEN];
    int nr_channels; // written under open_lock (release), read anywhere (acquire)

    using xenbus_device::read_number;

    int backend_state(Channel* ch) { return xenbus_device::backend_state(ch->be_path); }

    int write_state(Channel* ch, int state)
    {
        return xenbus_device::write_state(ch->fe_path, state);
    }

    int wait_backend(Channel* ch, int want)
    {
        return xenbus_device::wait_backend(ch->be_path, &ch->state_gen, want, kHandshakeTimeoutNs);
    }

    // The backend's state changed: the handshake re-reads it; after connect, a backend
    // that closes ends the channel (reference 10.3).
    void on_backend_state(const char*, const char*, void* arg)
    {
        auto* ch = static_cast<Channel*>(arg);
        __atomic_fetch_add(&ch->state_gen, 1u, __ATOMIC_RELEASE);
        if (!__atomic_load_n(&ch->connected, __ATOMIC_ACQUIRE))
            return;
        int state = backend_state(ch);
        if (state != XenbusStateClosing && state != XenbusStateClosed)
            return;
        fail(ch, "backend closed", unsigned(state));
        if (!__atomic_exchange_n(&ch->fail_reported, true, __ATOMIC_ACQ_REL)) {
            write_state(ch, XenbusStateClosing);
            write_state(ch, XenbusStateClosed); // the ring page stays granted, never reused
        }
    }

    // A new event channel for the backend (at connect, and after a resume).
    int setup_port(Channel* ch)
    {
        evtchn_port_t port;
        if (evtchn_alloc_unbound(ch->backend_id, &port) < 0)
            return -EIO; // a Xen errno: the message says which step failed
        evtchn_set_handler(port, on_event, ch);
        __atomic_store_n(&ch->port, port, __ATOMIC_RELEASE);
        evtchn_unmask(port);
        return 0;
    }

    // The ring page, its grant and its event channel. 0 or a negative errno.
    int setup_ring(Channel* ch)
    {
        auto* page = static_cast<xencons_interface*>(page_alloc(1));
        if (!page)
            return -ENOMEM;
        memset(page, 0, kPageSize);
        ch->ring = page;
        int rc = gnttab_grant_access(ch->backend_id, page, 0);
        if (rc < 0)
            return rc;
        ch->ring_gref = grant_ref_t(rc);
        return setup_port(ch);
    }

    // ring-ref, port and state = Initialised in one transaction.
    int publish(Channel* ch)
    {
        xenbus_device::Node nodes[2] = { { "ring-ref", {} }, { "port", {} } };
        ksnprintf(nodes[0].value, sizeof nodes[0].value, "%u", ch->ring_gref);
        ksnprintf(nodes[1].value, sizeof nodes[1].value, "%u", ch->port);
        return xenbus_device::publish_initialised(ch->fe_path, nodes, 2);
    }

    // The whole handshake (`again`: after a resume, the ring kept). 0, or a negative
    // errno with the reason printed.
    int connect(Channel* ch, bool again = false)
    {
        char token[32];
        char path[160];
        ksnprintf(token, sizeof token, "consfront-%u", ch->devid);
        ksnprintf(path, sizeof path, "%s/state", ch->be_path);
        int rc = xenbus_watch(path, token, on_backend_state, ch);
        if (rc < 0) {
            printk("consfront: %s: cannot watch %s (%d)\n", ch->name, path, rc);
            return rc;
        }
        const char* step = "backend InitWait";
        rc = wait_backend(ch, XenbusStateInitWait);
        if (rc >= XenbusStateClosing)
            rc = -EIO;
        if (rc >= 0) {
            step = again ? "event channel" : "ring";
            rc = again ? setup_port(ch) : setup_ring(ch);
        }
        if (rc >= 0) {
            step = "publishing the ring";
            rc = publish(ch);
        }
        if (rc >= 0) {
            step = "backend Connected";
            rc = wait_backend(ch, XenbusStateConnected);
            if (rc >= XenbusStateClosing)
                rc = -EIO;
        }
        if (rc >= 0) {
            __atomic_store_n(&ch->connected, true, __ATOMIC_RELEASE);
            step = "state Connected";
            rc = write_state(ch, XenbusStateConnected);
        }
        if (rc < 0) {
            printk("consfront: %s: %s%s failed (%d)\n", ch->name, again ? "reconnecting: " : "",
                step, rc);
            // What was granted stays granted: the backend may have seen it.
            __atomic_store_n(&ch->failed, true, __ATOMIC_RELEASE);
            __atomic_store_n(&ch->connected, false, __ATOMIC_RELEASE);
            xenbus_unwatch(path, token);
            return rc;
        }
        return 0;
    }

    // Resumed in a new domain: the backend directory is read again (the new domain ID is
    // in it), then the handshake with the ring as it is.
    int reconnect(Channel* ch)
    {
        char token[32];
        char path[160];
        ksnprintf(token, sizeof token, "consfront-%u", ch->devid);
        ksnprintf(path, sizeof path, "%s/state", ch->be_path);
        xenbus_unwatch(path, token);
        char be[sizeof ch->be_path];
        ksnprintf(path, sizeof path, "%s/backend", ch->fe_path);
        int n = xenbus_read(XBT_NIL, path, be, sizeof be);
        uint64_t backend_id = read_number(ch->fe_path, "backend-id", ~0ull);
        if (n <= 0 || size_t(n) >= sizeof be || backend_id >= DOMID_FIRST_RESERVED)
            return -ENODEV;
        memcpy(ch->be_path, be, sizeof be);
        ch->backend_id = domid_t(backend_id);
        return connect(ch, true);
    }

    struct Search {
        const char* name;
        long devid; // -1: not found
    };

    int match_name(const char* id, void* arg)
    {
        auto* search = static_cast<Search*>(arg);
        char* end;
        unsigned long devid = strtoul(id, &end, 10);
        if (*end != '\0' || end == id || devid == 0 || devid > 0xFFFF)
            return 0; // not a secondary console (0 would be the primary's slot)
        char path[64];
        char value[kMaxName + 2];
        ksnprintf(path, sizeof path, "device/console/%lu/name", devid);
        int n = xenbus_read(XBT_NIL, path, value, sizeof value);
        if (n <= 0 || size_t(n) > kMaxName || strcmp(value, search->name) != 0)
            return 0;
        search->devid = long(devid);
        return 1;
    }

    // A channel for device/console/<devid> with its backend, or null (reason printed).
    Channel* make_channel(unsigned devid, const char* name)
    {
        auto* ch = static_cast<Channel*>(calloc(1, sizeof(Channel)));
        if (!ch)
            return nullptr;
        ch->devid = devid;
        strncpy(ch->name, name, kMaxName);
        ksnprintf(ch->fe_path, sizeof ch->fe_path, "device/console/%u", devid);
        char path[96];
        ksnprintf(path, sizeof path, "%s/backend", ch->fe_path);
        int n = xenbus_read(XBT_NIL, path, ch->be_path, sizeof ch->be_path);
        uint64_t backend_id = read_number(ch->fe_path, "backend-id", ~0ull);
        if (n <= 0 || size_t(n) >= sizeof ch->be_path || backend_id >= DOMID_FIRST_RESERVED) {
            printk("consfront: %s: no usable backend / backend-id\n", name);
            free(ch);
            return nullptr;
        }
        ch->backend_id = domid_t(backend_id);
        return ch;
    }

    int open_locked(const char* name)
    {
        for (int i = 0; i < nr_channels; ++i)
            if (strcmp(channels[i]->name, name) == 0)
                return channels[i]->failed ? -EIO : i;
        if (nr_channels == CHANNEL_MAX_OPEN)
            return -ENFILE;
        Search search { name, -1 };
        int rc = xenbus_directory_foreach(XBT_NIL, "device/console", match_name, &search);
        if (rc < 0 && rc != -ENOENT && rc != -EACCES)
            return rc;
        if (search.devid < 0)
            return -ENOENT;
        Channel* ch = make_channel(unsigned(search.devid), name);
        if (!ch)
            return -EIO;
        rc = connect(ch);
        if (rc < 0)
            return rc; // not freed: the watch or the backend may still refer to it
        channels[nr_channels] = ch;
        __atomic_store_n(&nr_channels, nr_channels + 1, __ATOMIC_RELEASE);
        return nr_channels - 1;
    }

} // namespace

int open(const char* name)
{
    if (!name || !*name || strlen(name) > kMaxName)
        return -EINVAL;
    if (!xenbus::enabled())
        return -ENODEV;
    mutex_lock(&open_lock);
    int rc = open_locked(name);
    mutex_unlock(&open_lock);
    return rc;
}

void suspend()
{
    mutex_lock(&open_lock); // kept until resume(): no channel opens meanwhile
    int count = __atomic_load_n(&nr_channels, __ATOMIC_ACQUIRE);
    for (int i = 0; i < count; ++i) {
        Channel* ch = channels[i];
        bool up = __atomic_load_n(&ch->connected, __ATOMIC_ACQUIRE) && !ch->failed;
        ch->held = up;
        if (!up)
            continue;
        // Not connected: a backend-state event meanwhile (the old store's, or the new
        // store's first one for the old path) does not end the channel.
        __atomic_store_n(&ch->connected, false, __ATOMIC_RELEASE);
    }
}

void resume(bool new_domain)
{
    int count = __atomic_load_n(&nr_channels, __ATOMIC_ACQUIRE);
    for (int i = 0; i < count; ++i) {
        Channel* ch = channels[i];
        if (!ch->held)
            continue;
        ch->held = false;
        if (!new_domain) {
            __atomic_store_n(&ch->connected, true, __ATOMIC_RELEASE);
            continue;
        }
        // The old port means nothing here (or something else): nobody notifies it.
        __atomic_store_n(&ch->port, 0u, __ATOMIC_RELEASE);
        if (reconnect(ch) < 0) {
            fail(ch, "cannot reconnect after resume", ch->devid);
            continue;
        }
        printk("consfront: %s reconnected\n", ch->name);
        notify(ch); // bytes written meanwhile; space freed meanwhile
        waitq_wake_all(&ch->waiters);
    }
    mutex_unlock(&open_lock);
}

Channel* channel(int handle)
{
    int count = __atomic_load_n(&nr_channels, __ATOMIC_ACQUIRE);
    return handle >= 0 && handle < count ? channels[handle] : nullptr;
}

} // namespace domus::guest::consfront
