// Watches (see xenbus.hpp): the registry of (path, token, callback), the queue of
// XS_WATCH_EVENTs that xenbus-rx fills, and "xenbus-watch", the thread that empties it
// and runs the callbacks one at a time, in thread context.
#include "percpu.hpp"
#include "printk.hpp"
#include "shutdown.hpp"
#include "sync.hpp"
#include "thread.hpp"
#include "xenbus.hpp"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

namespace domus::guest::xenbus {

namespace {

    struct Watch {
        Watch* next;
        const char* path; // both strings live in the same allocation, after the struct
        const char* token;
        xenbus_watch_fn fn;
        void* arg;
    };

    struct Event {
        Event* next;
        char* data; // "epath\0token\0" (+ the NUL xenbus-rx adds after the payload)
        uint32_t len;
    };

    domus_mutex_t registry_lock = DOMUS_MUTEX_INIT;
    Watch* watches; // under registry_lock
    Watch* running; // whose callback runs now; under registry_lock
    domus_cond_t callback_done = DOMUS_COND_INIT;

    domus_mutex_t queue_lock = DOMUS_MUTEX_INIT;
    domus_cond_t queue_ready = DOMUS_COND_INIT;
    Event* queue_head; // under queue_lock
    Event* queue_tail;

    domus_thread* watch_thread;

    Watch** find(const char* path, const char* token)
    {
        for (Watch** link = &watches; *link; link = &(*link)->next)
            if (strcmp((*link)->path, path) == 0 && strcmp((*link)->token, token) == 0)
                return link;
        return nullptr;
    }

    // epath is wpath itself or a node below it.
    bool covers(const char* wpath, const char* epath)
    {
        size_t n = strlen(wpath);
        if (strncmp(wpath, epath, n) != 0)
            return false;
        return epath[n] == '\0' || epath[n] == '/' || (n && wpath[n - 1] == '/');
    }

    // After a watch left the registry: waits until its callback is not running (unless we
    // are that callback). registry_lock held.
    void wait_not_running(Watch* w)
    {
        if (current_thread() == watch_thread)
            return;
        while (running == w)
            cond_wait(&callback_done, &registry_lock);
    }

    void dispatch(const Event* e)
    {
        const char* epath = e->data;
        size_t path_len = strnlen(epath, e->len);
        const char* token = epath + path_len + 1;
        if (path_len + 1 >= e->len
            || strnlen(token, e->len - path_len - 1) == e->len - path_len - 1) {
            printk("xenbus: malformed watch event (%u bytes) dropped\n", e->len);
            return;
        }
        mutex_lock(&registry_lock);
        Watch* w = watches;
        for (; w; w = w->next)
            if (strcmp(w->token, token) == 0 && covers(w->path, epath))
                break;
        if (!w) { // unwatched meanwhile, or a stale event: nothing to do
            mutex_unlock(&registry_lock);
            return;
        }
        running = w;
        xenbus_watch_fn fn = w->fn;
        void* arg = w->arg;
        mutex_unlock(&registry_lock);

        fn(epath, token, arg); // w may be unwatched (and freed) from in here

        mutex_lock(&registry_lock);
        running = nullptr;
        cond_broadcast(&callback_done);
        mutex_unlock(&registry_lock);
    }

    void watch_main(void*)
    {
        shutdown_watcher_start();
        for (;;) {
            mutex_lock(&queue_lock);
            while (!queue_head)
                cond_wait(&queue_ready, &queue_lock);
            Event* e = queue_head;
            queue_head = e->next;
            if (!queue_head)
                queue_tail = nullptr;
            mutex_unlock(&queue_lock);
            dispatch(e);
            free(e->data);
            free(e);
        }
    }

} // namespace

void watch_start_thread()
{
    domus_thread_attr_t attr {};
    attr.name = "xenbus-watch";
    attr.vcpu = DOMUS_ANY_VCPU;
    attr.detached = 1;
    watch_thread = thread_create(watch_main, nullptr, &attr);
    if (!watch_thread)
        panic("cannot create the xenbus-watch thread");
}

void watches_resume()
{
    // A new store knows none of our watches: register each again (its first event
    // follows, so every callback re-reads what it watches, as after xs_resume in Linux).
    mutex_lock(&registry_lock);
    for (Watch* w = watches; w; w = w->next) {
        Part parts[] = { { w->path, strlen(w->path) + 1 }, { w->token, strlen(w->token) + 1 } };
        if (int rc = request_ok(XS_WATCH, XBT_NIL, parts, 2); rc < 0)
            printk("xenbus: cannot watch %s again (%d)\n", w->path, rc);
    }
    mutex_unlock(&registry_lock);
}

void watch_queue_event(char* data, uint32_t len)
{
    auto* e = static_cast<Event*>(malloc(sizeof(Event)));
    if (!e) {
        printk("xenbus: out of memory, watch event dropped\n");
        free(data);
        return;
    }
    *e = Event { nullptr, data, len };
    mutex_lock(&queue_lock);
    if (queue_tail)
        queue_tail->next = e;
    else
        queue_head = e;
    queue_tail = e;
    cond_signal(&queue_ready);
    mutex_unlock(&queue_lock);
}

namespace {

    struct SoonWatch {
        const char* path; // the strings live in the same allocation, after the struct
        const char* token;
        const char* what;
        xenbus_watch_fn fn;
        void* arg;
    };

    void register_now(
        const char* path, const char* token, xenbus_watch_fn fn, void* arg, const char* what)
    {
        if (int rc = xenbus_watch(path, token, fn, arg); rc < 0)
            printk("xenbus: cannot watch %s (%d): %s will be missed\n", path, rc, what);
    }

    void register_soon(void* arg)
    {
        auto* s = static_cast<SoonWatch*>(arg);
        register_now(s->path, s->token, s->fn, s->arg, s->what);
        free(s);
    }

} // namespace

void watch_soon(
    const char* path, const char* token, xenbus_watch_fn fn, void* arg, const char* what)
{
    size_t plen = strlen(path) + 1, tlen = strlen(token) + 1, wlen = strlen(what) + 1;
    auto* s = static_cast<SoonWatch*>(malloc(sizeof(SoonWatch) + plen + tlen + wlen));
    if (s) {
        char* strings = reinterpret_cast<char*>(s + 1);
        memcpy(strings, path, plen);
        memcpy(strings + plen, token, tlen);
        memcpy(strings + plen + tlen, what, wlen);
        *s = SoonWatch { strings, strings + plen, strings + plen + tlen, fn, arg };
        domus_thread_attr_t attr {};
        attr.name = "xenbus-watch-soon";
        attr.vcpu = DOMUS_ANY_VCPU;
        attr.detached = 1;
        if (thread_create(register_soon, s, &attr))
            return;
        free(s);
    }
    register_now(path, token, fn, arg, what); // no memory for a thread: here and now
}

} // namespace domus::guest::xenbus

using namespace domus::guest;
using namespace domus::guest::xenbus;

extern "C" int xenbus_watch(const char* path, const char* token, xenbus_watch_fn fn, void* arg)
{
    if (!enabled())
        return ring_failed() ? -EIO : -ENODEV;
    if (!path || !token || !fn)
        return -EINVAL;
    size_t plen = strlen(path) + 1, tlen = strlen(token) + 1;
    auto* w = static_cast<Watch*>(malloc(sizeof(Watch) + plen + tlen));
    if (!w)
        return -ENOMEM;
    char* strings = reinterpret_cast<char*>(w + 1);
    memcpy(strings, path, plen);
    memcpy(strings + plen, token, tlen);
    *w = Watch { nullptr, strings, strings + plen, fn, arg };

    // Registered before the request: the store sends the first event right after its OK.
    mutex_lock(&registry_lock);
    if (find(path, token)) {
        mutex_unlock(&registry_lock);
        free(w);
        return -EEXIST;
    }
    w->next = watches;
    watches = w;
    mutex_unlock(&registry_lock);

    Part parts[] = { { path, plen }, { token, tlen } };
    int rc = request_ok(XS_WATCH, XBT_NIL, parts, 2);
    if (rc < 0) {
        mutex_lock(&registry_lock);
        if (Watch** link = find(path, token); link && *link == w)
            *link = w->next;
        wait_not_running(w);
        mutex_unlock(&registry_lock);
        free(w);
    }
    return rc;
}

extern "C" int xenbus_unwatch(const char* path, const char* token)
{
    if (!enabled())
        return ring_failed() ? -EIO : -ENODEV;
    if (!path || !token)
        return -EINVAL;
    mutex_lock(&registry_lock);
    Watch** link = find(path, token);
    if (!link) {
        mutex_unlock(&registry_lock);
        return -ENOENT;
    }
    Watch* w = *link;
    *link = w->next;
    wait_not_running(w);
    mutex_unlock(&registry_lock);
    Part parts[] = { { path, strlen(path) + 1 }, { token, strlen(token) + 1 } };
    int rc = request_ok(XS_UNWATCH, XBT_NIL, parts, 2);
    free(w);
    return rc;
}
