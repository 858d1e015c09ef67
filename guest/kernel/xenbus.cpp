// XenStore client core (see xenbus.hpp): connecting at boot, the table of outstanding
// requests, and "xenbus-rx", the one thread that reads the ring, reassembles messages
// (16-byte header, then at most XENSTORE_PAYLOAD_MAX payload bytes) and hands each reply
// to the thread that waits for its req_id.
#include "xenbus.hpp"

#include "boot_info.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "shutdown.hpp"
#include "sync.hpp"
#include "thread.hpp"
#include "time.hpp"

#include <domus/abi/event_channel.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

namespace domus::guest {

namespace xenbus {

    namespace {

        // One outstanding request; lives on the requester's stack until `done` is up.
        struct Pending {
            Pending* next;
            uint32_t req_id;
            uint32_t type;
            int error; // 0, or -errno
            Reply reply; // valid when error == 0
            domus_sem_t done;
        };

        bool connected; // set at boot, before any thread runs
        domus_mutex_t writer = DOMUS_MUTEX_INIT; // one message at a time into the ring
        domus_mutex_t table_lock = DOMUS_MUTEX_INIT;
        Pending* pending; // under table_lock
        bool table_dead; // under table_lock: no request will be answered any more
        uint32_t next_req_id = 1;

        void table_add(Pending* p) { p->next = pending, pending = p; }

        // Unlinks the entry for req_id; null if there is none. table_lock held.
        Pending* table_take(uint32_t req_id)
        {
            for (Pending** link = &pending; *link; link = &(*link)->next)
                if ((*link)->req_id == req_id) {
                    Pending* p = *link;
                    *link = p->next;
                    return p;
                }
            return nullptr;
        }

        // The connection is gone: every waiter gets `error`, later requests fail at once.
        void fail_all(int error)
        {
            mutex_lock(&table_lock);
            table_dead = true;
            while (Pending* p = pending) {
                pending = p->next;
                p->error = error;
                sem_up(&p->done);
            }
            mutex_unlock(&table_lock);
        }

        void deliver(const xsd_sockmsg& h, char* data)
        {
            mutex_lock(&table_lock);
            Pending* p = table_take(h.req_id);
            if (!p) {
                mutex_unlock(&table_lock);
                printk("xenbus: reply (type %u) for unknown req_id %u dropped\n", h.type, h.req_id);
                free(data);
                return;
            }
            if (h.type == XS_ERROR) {
                p->error = error_from_name(data, h.len);
                free(data);
            } else if (h.type != p->type) {
                printk("xenbus: reply type %u to a request of type %u (req_id %u)\n", h.type,
                    p->type, h.req_id);
                p->error = -EIO;
                free(data);
            } else {
                p->error = 0;
                p->reply = Reply { h.type, h.len, data };
            }
            mutex_unlock(&table_lock);
            sem_up(&p->done); // p may be gone from here on
        }

        void rx_thread(void*)
        {
            static char discard[XENSTORE_PAYLOAD_MAX];
            for (;;) {
                xsd_sockmsg h;
                if (ring_read(&h, sizeof h) < 0)
                    break;
                if (h.len > XENSTORE_PAYLOAD_MAX) {
                    // The stream cannot be resynchronised after a bad length: stop here.
                    ring_fail("message payload length", h.len);
                    break;
                }
                char* data = static_cast<char*>(malloc(h.len + 1));
                if (ring_read(data ? data : discard, h.len) < 0) {
                    free(data);
                    break;
                }
                if (!data) {
                    printk(
                        "xenbus: out of memory for a %u-byte message (type %u)\n", h.len, h.type);
                    if (h.type != XS_WATCH_EVENT) {
                        mutex_lock(&table_lock);
                        Pending* p = table_take(h.req_id);
                        if (p)
                            p->error = -ENOMEM;
                        mutex_unlock(&table_lock);
                        if (p)
                            sem_up(&p->done);
                    }
                    continue;
                }
                data[h.len] = '\0';
                if (h.type == XS_WATCH_EVENT)
                    watch_queue_event(data, h.len);
                else
                    deliver(h, data);
            }
            fail_all(-EIO);
        }

    } // namespace

    bool enabled() { return connected && !ring_failed(); }

    int request(
        uint32_t type, xenbus_transaction_t tx, const Part* parts, unsigned nparts, Reply* reply)
    {
        if (!connected)
            return -ENODEV;
        size_t total = 0;
        for (unsigned i = 0; i < nparts; ++i)
            total += parts[i].len;
        if (total > XENSTORE_PAYLOAD_MAX)
            return -E2BIG; // the store would drop the whole connection
        Part msg[8]; // the header, then the payload parts
        if (nparts + 1 > sizeof msg / sizeof msg[0])
            return -EINVAL; // a bug in the caller; not reachable from the C API

        Pending p {}; // done: count 0
        p.type = type;
        uint32_t id;
        do
            id = __atomic_fetch_add(&next_req_id, 1u, __ATOMIC_RELAXED);
        while (id == 0); // 0 is what watch events carry
        p.req_id = id;

        xsd_sockmsg h { type, id, tx, uint32_t(total) };
        msg[0] = Part { &h, sizeof h };
        for (unsigned i = 0; i < nparts; ++i)
            msg[i + 1] = parts[i];
        // In the table before the request is in the ring (the reply may come at once), and
        // only under the writer lock: a suspend holding it waits for the table to empty.
        mutex_lock(&writer);
        mutex_lock(&table_lock);
        if (table_dead) {
            mutex_unlock(&table_lock);
            mutex_unlock(&writer);
            return -EIO;
        }
        table_add(&p);
        mutex_unlock(&table_lock);
        int rc = ring_write(msg, nparts + 1);
        mutex_unlock(&writer);
        if (rc < 0) {
            mutex_lock(&table_lock);
            bool ours = table_take(id) == &p;
            mutex_unlock(&table_lock);
            if (ours)
                return rc;
            // fail_all (or a reply) got there first and will up `done`.
        }
        sem_down(&p.done);
        if (p.error)
            return p.error;
        *reply = p.reply;
        return 0;
    }

    void suspend()
    {
        if (!connected)
            return;
        mutex_lock(&writer); // nothing new goes into the ring until resume()
        // The replies to what is in the ring already (bounded: a store that does not
        // answer must not keep the domain from suspending).
        uint64_t until = monotonic_ns() + 5'000'000'000ull;
        for (;;) {
            mutex_lock(&table_lock);
            bool idle = !pending;
            mutex_unlock(&table_lock);
            if (idle || monotonic_ns() > until)
                break;
            sleep_until(monotonic_ns() + 1'000'000);
        }
    }

    void resume(bool new_domain)
    {
        if (!connected)
            return;
        if (new_domain) {
            // A request left unanswered cannot be answered by the new store: it fails.
            mutex_lock(&table_lock);
            while (Pending* p = pending) {
                pending = p->next;
                p->error = -EAGAIN;
                sem_up(&p->done);
            }
            mutex_unlock(&table_lock);
            ring_reset(__atomic_load_n(&boot.start->store_evtchn, __ATOMIC_ACQUIRE));
        }
        mutex_unlock(&writer);
        if (new_domain)
            watches_resume();
    }

    int request_ok(uint32_t type, xenbus_transaction_t tx, const Part* parts, unsigned nparts)
    {
        Reply r;
        int rc = request(type, tx, parts, nparts, &r);
        if (rc == 0)
            free(r.data);
        return rc;
    }

} // namespace xenbus

void init_xenbus()
{
    using namespace xenbus;
    uint64_t mfn = boot.start->store_mfn;
    evtchn_port_t port = boot.start->store_evtchn;
    if (!mfn)
        return; // no store: xenbus stays disabled, the API answers -ENODEV
    if (port == 0 || port >= DOMUS_NR_EVENT_CHANNELS) {
        printk("xenbus: bad store ring (mfn %lu, port %u); xenbus disabled\n", (unsigned long)mfn,
            port);
        return;
    }
    ring_init(reinterpret_cast<xenstore_domain_interface*>(mfn << XEN_PAGE_SHIFT), port);
    connected = true;
    domus_thread_attr_t attr {};
    attr.name = "xenbus-rx";
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    if (!thread_create(rx_thread, nullptr, &attr))
        panic("cannot create the xenbus-rx thread");
    watch_start_thread();
}

} // namespace domus::guest
