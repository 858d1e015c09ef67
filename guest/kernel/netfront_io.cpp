// The vif's rings, frontend side. TX: a free buffer takes the frame, one request, publish,
// notify if the backend asked; responses hand buffers back. RX: each response's frame is
// copied out of its page and the page posted again at once. The backend's index, ids,
// offsets and lengths are checked; an impossible one fails the interface.
#include "netfront.hpp"

#include "events.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"

#include <errno.h>
#include <string.h>

namespace domus::guest::netfront {

namespace {

    bool failed(Nic* n) { return __atomic_load_n(&n->failed, __ATOMIC_ACQUIRE); }

    // Evaluated under the scheduler lock (waitq_sleep_while): no lost wake-up.
    bool no_frame(void* arg)
    {
        auto* n = static_cast<Nic*>(arg);
        return !failed(n) && !n->rx.responses_waiting();
    }
    bool no_tx_slot(void* arg)
    {
        auto* n = static_cast<Nic*>(arg);
        return !failed(n) && !n->tx.responses_waiting();
    }

    void post_rx(Nic* n, uint16_t id)
    {
        netif_rx_request request {};
        request.id = id;
        request.gref = n->rx_gref[id];
        n->rx.push(request);
    }

    // Hands back the buffers of answered TX requests. False when the backend broke the ring.
    bool reap_tx(Nic* n)
    {
        netif_tx_response response;
        for (;;) {
            switch (n->tx.next(response)) {
            case TxRing::Next::empty:
                return true;
            case TxRing::Next::broken:
                fail(n, "backend's TX rsp_prod out of range", 0);
                return false;
            case TxRing::Next::response:
                break;
            }
            if (response.id >= kTxBuffers || !n->tx_busy[response.id]) {
                fail(n, "backend answered a TX request never made", response.id);
                return false;
            }
            if (response.status != XEN_NETIF_RSP_OKAY)
                ++n->stats.tx_errors;
            n->tx_busy[response.id] = false;
            n->tx_free[n->tx_free_count++] = response.id;
        }
    }

} // namespace

void on_event(evtchn_port_t, void* data) { waitq_wake_all(&static_cast<Nic*>(data)->waiters); }

void fail(Nic* n, const char* why, unsigned long value)
{
    if (__atomic_exchange_n(&n->failed, true, __ATOMIC_ACQ_REL))
        return;
    printk("netfront: vif %u: %s (%lu); interface closed\n", n->devid, why, value);
    waitq_wake_all(&n->waiters);
}

int post_all_rx(Nic* n)
{
    for (unsigned i = 0; i < kRxBuffers; ++i)
        post_rx(n, uint16_t(i));
    n->rx.publish(); // the backend looks at the ring when it connects
    return 0;
}

long send(Nic* n, const struct net_part* parts, unsigned count)
{
    size_t len = 0;
    for (unsigned i = 0; i < count; ++i) {
        if (!parts[i].data && parts[i].len)
            return -EINVAL;
        len += parts[i].len;
        if (len > NET_MAX_FRAME)
            return -EMSGSIZE;
    }
    if (len < 14 || len > NET_MAX_FRAME)
        return len < 14 ? -EINVAL : -EMSGSIZE;
    mutex_lock(&n->tx_lock);
    long result = -EIO;
    while (!failed(n)) {
        if (!reap_tx(n))
            break;
        if (n->tx_free_count == 0) {
            if (!n->tx.more_after_final_check())
                waitq_sleep_while(&n->waiters, no_tx_slot, n);
            continue;
        }
        uint16_t id = n->tx_free[--n->tx_free_count];
        n->tx_busy[id] = true;
        uint8_t* to = n->tx_buf[id];
        for (unsigned i = 0; i < count; ++i) {
            memcpy(to, parts[i].data, parts[i].len);
            to += parts[i].len;
        }
        netif_tx_request request {};
        request.gref = n->tx_gref[id];
        request.offset = 0;
        request.flags = 0; // checksums filled in by the sender
        request.id = id;
        request.size = uint16_t(len);
        n->tx.push(request);
        if (n->tx.publish()) {
            evtchn_notify(n->port);
            ++n->stats.notifications;
        }
        ++n->stats.tx_frames;
        result = long(len);
        break;
    }
    mutex_unlock(&n->tx_lock);
    return result;
}

long receive(Nic* n, void* buf, size_t len)
{
    mutex_lock(&n->rx_lock);
    long result = -EIO;
    netif_rx_response response;
    while (!failed(n)) {
        auto next = n->rx.next(response);
        if (next == RxRing::Next::broken) {
            fail(n, "backend's RX rsp_prod out of range", 0);
            break;
        }
        if (next == RxRing::Next::empty) {
            if (!n->rx.more_after_final_check())
                waitq_sleep_while(&n->waiters, no_frame, n);
            continue;
        }
        if (response.id >= kRxBuffers) {
            fail(n, "backend answered an RX request never made", response.id);
            break;
        }
        uint16_t id = response.id;
        // The slot after one with NETRXF_extra_info holds no frame, even when that one
        // ended the previous call.
        bool extra = n->rx_skip_next;
        n->rx_skip_next = !extra && (response.flags & NETRXF_extra_info);
        bool usable = !extra && response.status > 0
            && size_t(response.offset) + size_t(response.status) <= kPageSize
            && !(response.flags & NETRXF_more_data); // no scatter-gather was offered
        long length = response.status;
        if (usable) {
            size_t copy = size_t(length) < len ? size_t(length) : len;
            memcpy(buf, n->rx_buf[id] + response.offset, copy);
        } else if (!extra) {
            ++n->stats.rx_errors;
        }
        post_rx(n, id);
        if (n->rx.publish()) {
            evtchn_notify(n->port);
            ++n->stats.notifications;
        }
        if (usable) {
            ++n->stats.rx_frames;
            result = length;
            break;
        }
    }
    mutex_unlock(&n->rx_lock);
    return result;
}

} // namespace domus::guest::netfront
