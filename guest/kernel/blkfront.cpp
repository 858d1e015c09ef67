// Finding and connecting the block devices (PV ABI reference 4.7 and 10.2): the thread
// "blkfront-probe" lists device/vbd, and for each device waits for its backend's
// InitWait, reads the features, sets up the ring, bounce slots and event channel,
// publishes them in one transaction (state Initialised), waits for the backend's
// Connected and says Connected too. A backend that later closes (or vanishes) fails the
// device. After the boot-time pass the thread stays, woken by a watch on device/vbd, and
// connects devices attached later and forgets the ones whose directory went away.
#include "blkfront.hpp"

#include "cmdline.hpp"
#include "events.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"
#include "time.hpp"
#include "xenbus.hpp"
#include "xenbus_device.hpp"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

namespace domus::guest::blkfront {

namespace {

    using xenbus_device::read_number;

    int backend_state(Device* dev) { return xenbus_device::backend_state(dev->be_path); }

    int write_state(Device* dev, int state)
    {
        return xenbus_device::write_state(dev->fe_path, state);
    }

    int wait_backend(Device* dev, int want)
    {
        return xenbus_device::wait_backend(
            dev->be_path, &dev->state_gen, want, kHandshakeTimeoutNs);
    }

    // devices[0..nr_devices) only grows: an entry is written before nr_devices is
    // released past it, and never changes afterwards.
    Device* devices[BLK_MAX_DEVICES];
    int nr_devices;
    bool probe_done; // set once (release), after the boot-time pass
    domus_waitq probe_waiters; // woken at the end of that pass and for every new device
    domus_sem_t rescan; // upped by the device/vbd watch

    // The device ids present in the store that the prober has dealt with (connected
    // or given up on), with their Device if one was made. Prober thread only.
    struct Known {
        unsigned devid;
        Device* dev;
    };
    Known known[BLK_MAX_DEVICES];
    unsigned nr_known;

    bool probe_running(void*) { return !__atomic_load_n(&probe_done, __ATOMIC_ACQUIRE); }

    void finish_probe()
    {
        __atomic_store_n(&probe_done, true, __ATOMIC_RELEASE);
        waitq_wake_all(&probe_waiters);
    }

    // The name Linux would give the whole disk ("xvda"), or "vbd<devid>".
    void make_name(Device* dev)
    {
        unsigned id = dev->devid;
        if ((id >> 8) == 202 && (id & 15) == 0)
            ksnprintf(dev->name, sizeof dev->name, "xvd%c", 'a' + int((id >> 4) & 15));
        else
            ksnprintf(dev->name, sizeof dev->name, "vbd%u", id);
    }

    // The store lets us know when the backend's state changes; the prober re-reads it.
    // After connect, a backend that closes ends the device (reference 10.3).
    void on_backend_state(const char*, const char*, void* arg)
    {
        auto* dev = static_cast<Device*>(arg);
        __atomic_fetch_add(&dev->state_gen, 1u, __ATOMIC_RELEASE);
        if (!__atomic_load_n(&dev->connected, __ATOMIC_ACQUIRE))
            return;
        int state = backend_state(dev);
        // Unknown: the node is gone (a forced removal took the backend away).
        if (state != XenbusStateClosing && state != XenbusStateClosed
            && state != XenbusStateUnknown)
            return;
        fail(dev, "backend closed", unsigned(state));
        if (!__atomic_exchange_n(&dev->fail_reported, true, __ATOMIC_ACQ_REL)) {
            write_state(dev, XenbusStateClosing);
            // The bounce pages stay granted and allocated: we do not reuse them.
            write_state(dev, XenbusStateClosed);
        }
    }

    void read_features(Device* dev)
    {
        const char* be = dev->be_path;
        dev->feature_flush = read_number(be, "feature-flush-cache", 0) == 1;
        dev->feature_barrier = read_number(be, "feature-barrier", 0) == 1;
        dev->feature_discard = read_number(be, "feature-discard", 0) == 1;
        dev->max_indirect = uint32_t(read_number(be, "feature-max-indirect-segments", 0));
        dev->feature_persistent = read_number(be, "feature-persistent", 0) == 1;
        char wanted[4] = "0";
        cmdline_get("blkfront.persistent", wanted, sizeof wanted);
        dev->persistent = dev->feature_persistent && strcmp(wanted, "1") == 0;
    }

    // Device properties: published at InitWait by some backends, at Connected by others.
    void read_properties(Device* dev)
    {
        const char* be = dev->be_path;
        dev->sectors = read_number(be, "sectors", 0);
        uint64_t size = read_number(be, "sector-size", 512);
        dev->sector_size
            = size >= 512 && size <= 65536 && !(size & (size - 1)) ? uint32_t(size) : 512;
        dev->read_only = (read_number(be, "info", 0) & VDISK_READONLY) != 0;
        char mode[4];
        char path[192];
        ksnprintf(path, sizeof path, "%s/mode", be);
        if (xenbus_read(XBT_NIL, path, mode, sizeof mode) == 1 && mode[0] == 'r')
            dev->read_only = true;
    }

    // The one-page ring, its grant and its event channel. 0 or a negative errno.
    int setup_ring(Device* dev)
    {
        auto* page = static_cast<uint8_t*>(page_alloc(1));
        if (!page)
            return -ENOMEM;
        memset(page, 0, kPageSize);
        dev->sring = reinterpret_cast<ring_sring_header*>(page);
        dev->ring = reinterpret_cast<blkif_sring_entry*>(page + sizeof(ring_sring_header));
        dev->sring->req_event = 1;
        dev->sring->rsp_event = 1;
        int rc = gnttab_grant_access(dev->backend_id, page, 0);
        if (rc < 0)
            return rc;
        dev->ring_gref = grant_ref_t(rc);
        rc = evtchn_alloc_unbound(dev->backend_id, &dev->port);
        if (rc < 0)
            return -EIO; // a Xen errno: say so in the message, not in the result
        evtchn_set_handler(dev->port, on_event, dev);
        evtchn_unmask(dev->port);
        return 0;
    }

    // ring-ref, event-channel, protocol and state = Initialised in one transaction.
    int publish(Device* dev)
    {
        xenbus_device::Node nodes[4] = { { "ring-ref", {} }, { "event-channel", {} },
            { "protocol", "x86_64-abi" }, { "feature-persistent", {} } };
        ksnprintf(nodes[0].value, sizeof nodes[0].value, "%u", dev->ring_gref);
        ksnprintf(nodes[1].value, sizeof nodes[1].value, "%u", dev->port);
        ksnprintf(nodes[3].value, sizeof nodes[3].value, "%u", dev->persistent ? 1u : 0u);
        return xenbus_device::publish_initialised(dev->fe_path, nodes, 4);
    }

    // Resumed in a new domain: the ring of the old backend emptied and a new event
    // channel, on the same ring page, grants and bounce pages.
    int reset(Device* dev)
    {
        // The requests are built for the old backend's features: the new one must offer
        // the same (the same Domus on both hosts does).
        bool persistent = read_number(dev->be_path, "feature-persistent", 0) == 1;
        if (uint32_t(read_number(dev->be_path, "feature-max-indirect-segments", 0))
                != dev->max_indirect
            || (dev->persistent && !persistent))
            return -EPROTO;
        reset_ring_locked(dev);
        if (evtchn_alloc_unbound(dev->backend_id, &dev->port) < 0)
            return -EIO;
        evtchn_set_handler(dev->port, on_event, dev);
        evtchn_unmask(dev->port);
        return 0;
    }

    // The whole handshake for one device with the backend at dev->be_path: watch its
    // state, wait for InitWait, set the ring and bounce pages up (or, `again` after a
    // resume, reset them for the new backend), publish, wait for Connected. 0, or a
    // negative errno with the reason printed.
    int handshake(Device* dev, bool again)
    {
        char token[32];
        char path[160];
        ksnprintf(token, sizeof token, "blkfront-%u", dev->devid);
        ksnprintf(path, sizeof path, "%s/state", dev->be_path);
        const char* step = "watching the backend";
        int rc = xenbus_watch(path, token, on_backend_state, dev);
        if (rc >= 0) {
            step = "backend InitWait";
            rc = wait_backend(dev, XenbusStateInitWait);
            if (rc >= XenbusStateClosing)
                rc = -ENODEV;
        }
        if (rc >= 0 && again) {
            step = "the same features";
            rc = reset(dev);
        } else if (rc >= 0) {
            read_features(dev);
            read_properties(dev);
            step = "ring";
            rc = setup_ring(dev);
            if (rc >= 0) {
                step = "bounce pages";
                rc = setup_slots(dev);
            }
        }
        if (rc >= 0) {
            step = "publishing the ring";
            rc = publish(dev);
        }
        if (rc >= 0) {
            step = "backend Connected";
            rc = wait_backend(dev, XenbusStateConnected);
            if (rc >= XenbusStateClosing)
                rc = -ENODEV;
        }
        if (rc >= 0) {
            read_properties(dev);
            __atomic_store_n(&dev->connected, true, __ATOMIC_RELEASE);
            __atomic_store_n(&dev->ever_connected, true, __ATOMIC_RELEASE);
            step = "state Connected";
            rc = write_state(dev, XenbusStateConnected);
        }
        if (rc < 0) {
            printk("blkfront: %s: %s%s failed (%d)%s\n", dev->name, again ? "reconnecting: " : "",
                step, rc, again ? "" : "; device skipped");
            // Grants and pages made so far stay as they are: the backend may have seen them.
            if (!again)
                __atomic_store_n(&dev->failed, true, __ATOMIC_RELEASE);
            __atomic_store_n(&dev->connected, false, __ATOMIC_RELEASE);
            xenbus_unwatch(path, token);
            // A backend that closed while we connected (the device detached moments after
            // it came) waits for us to let go: say Closed, as after a connection.
            if (backend_state(dev) >= XenbusStateClosing) {
                write_state(dev, XenbusStateClosing);
                write_state(dev, XenbusStateClosed);
            }
        }
        return rc;
    }

    int connect(Device* dev) { return handshake(dev, false); }

    // Resumed in a new domain: the handshake again with the new backend (its path has our
    // new domain ID in it). The device lock is held: no request moves until it is done.
    int reconnect(Device* dev)
    {
        char token[32];
        char path[160];
        ksnprintf(token, sizeof token, "blkfront-%u", dev->devid);
        ksnprintf(path, sizeof path, "%s/state", dev->be_path);
        __atomic_store_n(&dev->connected, false, __ATOMIC_RELEASE);
        xenbus_unwatch(path, token);
        char be[sizeof dev->be_path];
        ksnprintf(path, sizeof path, "%s/backend", dev->fe_path);
        int n = xenbus_read(XBT_NIL, path, be, sizeof be);
        if (n <= 0 || size_t(n) >= sizeof be)
            return -ENODEV;
        memcpy(dev->be_path, be, sizeof be);
        return handshake(dev, true);
    }

    struct ProbeList {
        unsigned ids[BLK_MAX_DEVICES];
        unsigned count;
    };

    int collect_id(const char* name, void* arg)
    {
        auto* list = static_cast<ProbeList*>(arg);
        char* end;
        unsigned long id = strtoul(name, &end, 10);
        if (*end != '\0' || end == name) {
            printk("blkfront: ignoring device/vbd/%s (not a number)\n", name);
            return 0;
        }
        if (list->count == BLK_MAX_DEVICES) {
            printk("blkfront: more than %d vbds; the rest are ignored\n", BLK_MAX_DEVICES);
            return 1;
        }
        list->ids[list->count++] = unsigned(id);
        return 0;
    }

    Device* make_device(unsigned devid)
    {
        auto* dev = static_cast<Device*>(calloc(1, sizeof(Device)));
        if (!dev)
            return nullptr;
        dev->devid = devid;
        make_name(dev);
        ksnprintf(dev->fe_path, sizeof dev->fe_path, "device/vbd/%u", devid);
        char path[96];
        ksnprintf(path, sizeof path, "%s/backend", dev->fe_path);
        int n = xenbus_read(XBT_NIL, path, dev->be_path, sizeof dev->be_path);
        uint64_t backend_id = read_number(dev->fe_path, "backend-id", ~0ull);
        if (n <= 0 || size_t(n) >= sizeof dev->be_path || backend_id >= DOMID_FIRST_RESERVED) {
            printk("blkfront: %s: no usable backend / backend-id (yet)\n", dev->name);
            free(dev);
            return nullptr;
        }
        dev->backend_id = domid_t(backend_id);
        return dev;
    }

    bool listed(const ProbeList& list, unsigned devid)
    {
        for (unsigned i = 0; i < list.count; ++i)
            if (list.ids[i] == devid)
                return true;
        return false;
    }

    // A failed device whose directory says Initialising again: the toolstack removed it
    // and published a new device under the same id since our last pass (only the
    // toolstack writes state 1; we never go back to it).
    bool replaced(Device* dev)
    {
        if (!dev || !__atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE)
            || !__atomic_load_n(&dev->ever_connected, __ATOMIC_ACQUIRE))
            return false;
        return read_number(dev->fe_path, "state", XenbusStateUnknown) == XenbusStateInitialising;
    }

    // One pass over device/vbd: forget what went away, connect what is new.
    void scan()
    {
        ProbeList list {};
        int rc = xenbus_directory_foreach(XBT_NIL, "device/vbd", collect_id, &list);
        if (rc < 0 && rc != -ENOENT && rc != -EACCES) { // no vbd / no home: nothing to probe
            printk("blkfront: cannot list device/vbd (%d)\n", rc);
            return;
        }
        for (unsigned i = 0; i < nr_known;) {
            if (listed(list, known[i].devid) && !replaced(known[i].dev)) {
                ++i;
                continue;
            }
            // Detached (or detached and attached again before this pass): the device
            // keeps its number and stays failed; its watch goes, so that the same id can
            // come back as a new device.
            if (Device* dev = known[i].dev) {
                fail(dev, "device removed", dev->devid);
                char token[32];
                char path[160];
                ksnprintf(token, sizeof token, "blkfront-%u", dev->devid);
                ksnprintf(path, sizeof path, "%s/state", dev->be_path);
                xenbus_unwatch(path, token);
                release(dev); // the backend and its mappings are gone with the directory
            }
            known[i] = known[--nr_known];
        }
        for (unsigned i = 0; i < list.count; ++i) {
            bool seen = false;
            for (unsigned k = 0; k < nr_known && !seen; ++k)
                seen = known[k].devid == list.ids[i];
            if (seen)
                continue;
            if (nr_known == BLK_MAX_DEVICES
                || __atomic_load_n(&nr_devices, __ATOMIC_RELAXED) == BLK_MAX_DEVICES) {
                printk("blkfront: device limit (%d) reached; vbd %u ignored\n", BLK_MAX_DEVICES,
                    list.ids[i]);
                continue;
            }
            // A directory the toolstack is still writing (it does not use a transaction)
            // may lack backend or backend-id yet: not known, so the next pass (its
            // next write) looks again.
            Device* dev = make_device(list.ids[i]);
            if (!dev)
                continue;
            known[nr_known++] = Known { list.ids[i], dev };
            if (connect(dev) < 0)
                continue; // not freed: a watch callback or the backend may still refer to it
            int index = __atomic_load_n(&nr_devices, __ATOMIC_RELAXED);
            devices[index] = dev;
            __atomic_store_n(&nr_devices, index + 1, __ATOMIC_RELEASE);
            if (__atomic_load_n(&probe_done, __ATOMIC_ACQUIRE))
                printk("blkfront: %s attached (%llu sectors)\n", dev->name,
                    (unsigned long long)dev->sectors);
            waitq_wake_all(&probe_waiters);
        }
    }

    void on_vbd_change(const char*, const char*, void*) { sem_up(&rescan); }

    void probe_thread(void*)
    {
        scan();
        finish_probe();
        // Hot-plug: every change below device/vbd wakes the next pass.
        if (int rc = xenbus_watch("device/vbd", "blkfront-hotplug", on_vbd_change, nullptr);
            rc < 0) {
            printk("blkfront: cannot watch device/vbd (%d); no hot-plug\n", rc);
            return;
        }
        for (;;) {
            sem_down(&rescan);
            while (sem_trydown(&rescan)) { } // events coalesce: one pass sees them all
            scan();
        }
    }

} // namespace

void init()
{
    if (!xenbus::enabled()) {
        finish_probe();
        return;
    }
    domus_thread_attr_t attr {};
    attr.name = "blkfront-probe";
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    if (!thread_create(probe_thread, nullptr, &attr)) {
        printk("blkfront: cannot create the probe thread; no block devices\n");
        finish_probe();
    }
}

int count()
{
    while (probe_running(nullptr))
        waitq_sleep_while(&probe_waiters, probe_running, nullptr);
    return __atomic_load_n(&nr_devices, __ATOMIC_ACQUIRE);
}

int wait_count(int n, uint64_t timeout_ms)
{
    // The wait queue has no timeout: look again every few milliseconds.
    uint64_t deadline = monotonic_ns() + timeout_ms * 1'000'000;
    for (;;) {
        int have = count();
        if (have >= n)
            return have;
        if (monotonic_ns() >= deadline)
            return -ETIMEDOUT;
        sleep_until(monotonic_ns() + 5'000'000);
    }
}

Device* device(int index) { return index >= 0 && index < count() ? devices[index] : nullptr; }

void suspend()
{
    int n = __atomic_load_n(&nr_devices, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; ++i) {
        Device* dev = devices[i];
        mutex_lock(&dev->lock); // kept until resume(): no request starts meanwhile
        if (__atomic_load_n(&dev->connected, __ATOMIC_ACQUIRE) && !dev->failed
            && !drain_locked(dev, 10'000'000'000ull))
            printk("blkfront: %s: requests still unanswered at suspend\n", dev->name);
    }
}

void resume(bool new_domain)
{
    int n = __atomic_load_n(&nr_devices, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n; ++i) {
        Device* dev = devices[i];
        if (new_domain && __atomic_load_n(&dev->connected, __ATOMIC_ACQUIRE) && !dev->failed) {
            if (reconnect(dev) < 0) {
                mutex_unlock(&dev->lock);
                fail(dev, "cannot reconnect after resume", dev->devid);
                continue;
            }
            printk("blkfront: %s reconnected\n", dev->name);
        }
        mutex_unlock(&dev->lock);
        waitq_wake_all(&dev->waiters);
    }
}

void report_failure(Device* dev)
{
    if (!__atomic_load_n(&dev->failed, __ATOMIC_ACQUIRE))
        return;
    if (!__atomic_exchange_n(&dev->fail_reported, true, __ATOMIC_ACQ_REL))
        write_state(dev, XenbusStateClosing);
}

} // namespace domus::guest::blkfront
