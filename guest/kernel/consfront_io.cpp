// The channel ring, frontend side: `out` is ours to produce (data, release-store of
// out_prod, notify), `in` ours to consume (copy, release-store of in_cons, notify). The
// backend's index is read once per pass (acquire) and checked against the buffer size;
// an impossible one fails the channel instead of being trusted.
#include "consfront.hpp"

#include "events.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"

#include <errno.h>

namespace domus::guest::consfront {

namespace {

    constexpr XENCONS_RING_IDX kInSize = sizeof(xencons_interface::in);
    constexpr XENCONS_RING_IDX kOutSize = sizeof(xencons_interface::out);

    bool failed(Channel* ch) { return __atomic_load_n(&ch->failed, __ATOMIC_ACQUIRE); }

    // Evaluated under the scheduler lock (waitq_sleep_while), so a wake-up between the
    // check and the sleep is not lost.
    bool nothing_to_read(void* arg)
    {
        auto* ch = static_cast<Channel*>(arg);
        return !failed(ch) && __atomic_load_n(&ch->ring->in_prod, __ATOMIC_ACQUIRE) == ch->in_cons;
    }

    bool no_space(void* arg)
    {
        auto* ch = static_cast<Channel*>(arg);
        XENCONS_RING_IDX cons = __atomic_load_n(&ch->ring->out_cons, __ATOMIC_ACQUIRE);
        return !failed(ch) && ch->out_prod - cons == kOutSize;
    }

} // namespace

void notify(Channel* ch)
{
    if (evtchn_port_t port = __atomic_load_n(&ch->port, __ATOMIC_ACQUIRE))
        evtchn_notify(port);
}

void on_event(evtchn_port_t, void* data) { waitq_wake_all(&static_cast<Channel*>(data)->waiters); }

void fail(Channel* ch, const char* why, unsigned long value)
{
    if (__atomic_exchange_n(&ch->failed, true, __ATOMIC_ACQ_REL))
        return;
    printk("consfront: %s: %s (%lu); channel closed\n", ch->name, why, value);
    waitq_wake_all(&ch->waiters);
}

long read(Channel* ch, void* buf, size_t len)
{
    auto* out = static_cast<char*>(buf);
    mutex_lock(&ch->read_lock);
    long result = 0;
    while (result == 0) {
        if (failed(ch)) {
            result = -EIO;
            break;
        }
        XENCONS_RING_IDX prod = __atomic_load_n(&ch->ring->in_prod, __ATOMIC_ACQUIRE);
        XENCONS_RING_IDX cons = ch->in_cons;
        if (prod - cons > kInSize) {
            fail(ch, "backend's in_prod out of range", prod - cons);
            continue;
        }
        size_t n = 0;
        while (cons != prod && n < len)
            out[n++] = ch->ring->in[MASK_XENCONS_IDX(cons++, ch->ring->in)];
        if (n == 0) {
            waitq_sleep_while(&ch->waiters, nothing_to_read, ch);
            continue;
        }
        ch->in_cons = cons;
        // Release: our copy is done before the backend may reuse the space.
        __atomic_store_n(&ch->ring->in_cons, cons, __ATOMIC_RELEASE);
        notify(ch);
        result = long(n);
    }
    mutex_unlock(&ch->read_lock);
    return result;
}

long write(Channel* ch, const void* buf, size_t len)
{
    auto* in = static_cast<const char*>(buf);
    mutex_lock(&ch->write_lock);
    size_t done = 0;
    long result = 0;
    while (done < len) {
        if (failed(ch)) {
            result = -EIO;
            break;
        }
        XENCONS_RING_IDX cons = __atomic_load_n(&ch->ring->out_cons, __ATOMIC_ACQUIRE);
        XENCONS_RING_IDX used = ch->out_prod - cons;
        if (used > kOutSize) {
            fail(ch, "backend's out_cons out of range", used);
            continue;
        }
        if (used == kOutSize) {
            notify(ch); // make sure the backend knows there is data to take
            waitq_sleep_while(&ch->waiters, no_space, ch);
            continue;
        }
        for (XENCONS_RING_IDX space = kOutSize - used; space && done < len; --space)
            ch->ring->out[MASK_XENCONS_IDX(ch->out_prod++, ch->ring->out)] = in[done++];
        // Release: the bytes are visible before the new producer index.
        __atomic_store_n(&ch->ring->out_prod, ch->out_prod, __ATOMIC_RELEASE);
        notify(ch);
    }
    mutex_unlock(&ch->write_lock);
    return result < 0 ? result : long(len);
}

} // namespace domus::guest::consfront
