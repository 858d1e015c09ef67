// The vif's rings, frontend side. TX: a packet is copied into free pages (one per 4 KiB),
// its requests (the first carrying the whole length, a GSO extra-info slot after it for a
// large TCP packet) published at once, the backend notified if it asked; responses hand
// the pages back. RX: responses are gathered into packets (more_data chains, extra-info
// slots by ring position); a packet is copied out when taken and its pages posted again
// at once. The backend's index, ids, offsets and lengths are checked; an impossible one
// fails the interface, a merely bad packet is counted and dropped.
#include "netfront.hpp"

#include "arch.hpp"
#include "events.hpp"
#include "mm.hpp"
#include "printk.hpp"
#include "sched.hpp"
#include "sync.hpp"
#include "time.hpp"

#include <errno.h>
#include <string.h>

namespace domus::guest::netfront {

namespace {

    // While packets are streaming in (the last came less than kStreamingNs ago), the
    // receiver watches the ring this long before it arms rsp_event and sleeps: a wake-up
    // costs an exit and an upcall (~60 us or more here), the next packet of a stream
    // comes within microseconds. An idle interface is not polled.
    constexpr uint64_t kPollNs = 30'000;
    constexpr uint64_t kStreamingNs = 200'000;

    bool failed(Nic* n) { return __atomic_load_n(&n->failed, __ATOMIC_ACQUIRE); }
    bool quiesced(Nic* n) { return __atomic_load_n(&n->quiesced, __ATOMIC_ACQUIRE); }
    bool still_quiesced(void* arg) { return quiesced(static_cast<Nic*>(arg)); }

    // Suspended: let go of `lock` (suspend takes it) until the interface is back.
    void sit_out_suspend(Nic* n, domus_mutex_t* lock)
    {
        mutex_unlock(lock);
        waitq_sleep_while(&n->resumed, still_quiesced, n);
        mutex_lock(lock);
    }

    // Evaluated under the scheduler lock (waitq_sleep_while): no lost wake-up.
    bool no_response(void* arg)
    {
        auto* n = static_cast<Nic*>(arg);
        return !failed(n) && !quiesced(n) && !n->rx.responses_waiting();
    }
    bool no_tx_response(void* arg)
    {
        auto* n = static_cast<Nic*>(arg);
        return !failed(n) && !quiesced(n) && !n->tx.responses_waiting();
    }

    // Posts page `buf` in the next free ring slot; its request id is that slot.
    void post_rx(Nic* n, uint16_t buf, RING_IDX position)
    {
        uint16_t slot = uint16_t(position & (kRxBuffers - 1));
        n->rx_slot_buf[slot] = buf;
        netif_rx_request request {};
        request.id = slot;
        request.gref = n->rx_gref[buf];
        n->rx.push(request);
    }

    void publish_rx(Nic* n)
    {
        if (n->rx.publish()) {
            evtchn_notify(n->port);
            ++n->stats.notifications;
        }
    }

    // Hands back the pages of answered TX requests. False when the backend broke the ring.
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
            if (response.status == XEN_NETIF_RSP_NULL)
                continue; // an extra-info slot's answer
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

    void reset_rx_packet(Nic* n)
    {
        n->rx_piece_count = 0;
        n->rx_len = 0;
        n->rx_flags = 0;
        n->rx_gso_size = 0;
        n->rx_bad = false;
        n->rx_expect_extra = false;
        n->rx_complete = false;
    }

    // Posts the gathered packet's pages again and forgets it.
    void recycle_rx_packet(Nic* n)
    {
        for (unsigned i = 0; i < n->rx_piece_count; ++i)
            post_rx(n, n->rx_pieces[i].buf, n->rx.requests_made());
        reset_rx_packet(n);
        publish_rx(n);
    }

    // Takes one response into the packet being gathered. False when the backend broke
    // the ring protocol (the interface has failed).
    bool gather(Nic* n, const netif_rx_response& response, RING_IDX position)
    {
        uint16_t slot = uint16_t(position & (kRxBuffers - 1));
        uint16_t buf = n->rx_slot_buf[slot];
        if (n->rx_expect_extra) {
            // An extra-info slot: its page carries nothing and goes straight back.
            netif_extra_info extra;
            static_assert(sizeof extra == sizeof response);
            memcpy(&extra, &response, sizeof extra);
            if (extra.type == XEN_NETIF_EXTRA_TYPE_GSO) {
                if (extra.u.gso.type == XEN_NETIF_GSO_TYPE_TCPV4 && extra.u.gso.size)
                    n->rx_gso_size = extra.u.gso.size;
                else
                    n->rx_bad = true;
            }
            n->rx_expect_extra = extra.flags & XEN_NETIF_EXTRA_FLAG_MORE;
            post_rx(n, buf, n->rx.requests_made());
            return true;
        }
        if (response.id != slot) {
            fail(n, "backend answered an RX request out of its slot", response.id);
            return false;
        }
        bool first = n->rx_piece_count == 0 && n->rx_len == 0 && !n->rx_bad;
        if (first) {
            if (response.flags & NETRXF_csum_blank)
                n->rx_flags |= NET_PACKET_CSUM_BLANK;
            if (response.flags & NETRXF_data_validated)
                n->rx_flags |= NET_PACKET_DATA_VALIDATED;
            n->rx_expect_extra = response.flags & NETRXF_extra_info;
        }
        bool usable = response.status > 0
            && size_t(response.offset) + size_t(response.status) <= kPageSize
            && n->rx_piece_count < kMaxPacketSlots;
        if (usable) {
            n->rx_pieces[n->rx_piece_count++]
                = RxPiece { buf, response.offset, uint16_t(response.status) };
            n->rx_len += size_t(response.status);
        } else {
            n->rx_bad = true;
            post_rx(n, buf, n->rx.requests_made());
        }
        if (!(response.flags & NETRXF_more_data))
            n->rx_complete = true;
        return true;
    }

    // True when a response came while polling a streaming interface.
    bool poll_rx(Nic* n)
    {
        uint64_t now = monotonic_ns();
        if (now - n->rx_last_ns > kStreamingNs)
            return false;
        uint64_t deadline = now + kPollNs;
        do {
            if (n->rx.responses_waiting() || failed(n) || quiesced(n))
                return true;
            cpu_relax();
        } while (monotonic_ns() < deadline);
        return false;
    }

    // Under rx_lock: until a whole, good packet heads the ring. Its length, or -EIO.
    long wait_packet(Nic* n)
    {
        netif_rx_response response;
        while (!failed(n)) {
            if (quiesced(n)) {
                sit_out_suspend(n, &n->rx_lock);
                continue;
            }
            // Complete once the last data slot and every extra-info slot are in (a
            // one-page GSO packet ends at its first slot, its extra slot still to come).
            if (n->rx_complete && !n->rx_expect_extra) {
                if (!n->rx_bad && n->rx_len >= 14)
                    return long(n->rx_len);
                ++n->stats.rx_errors;
                recycle_rx_packet(n);
                continue;
            }
            RING_IDX position = n->rx.responses_consumed();
            auto next = n->rx.next(response);
            if (next == RxRing::Next::broken) {
                fail(n, "backend's RX rsp_prod out of range", 0);
                break;
            }
            if (next == RxRing::Next::empty) {
                publish_rx(n); // extra slots' pages, reposted while gathering
                if (poll_rx(n))
                    continue;
                if (!n->rx.more_after_final_check())
                    waitq_sleep_while(&n->waiters, no_response, n);
                continue;
            }
            n->rx_last_ns = monotonic_ns();
            if (!gather(n, response, position))
                break;
        }
        return -EIO;
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
    reset_rx_packet(n);
    for (unsigned i = 0; i < kRxBuffers; ++i)
        post_rx(n, uint16_t(i), n->rx.requests_made());
    n->rx.publish(); // the backend looks at the ring when it connects
    return 0;
}

long send(Nic* n, const struct net_part* parts, unsigned count, const struct net_packet* packet)
{
    size_t len = 0;
    for (unsigned i = 0; i < count; ++i) {
        if (!parts[i].data && parts[i].len)
            return -EINVAL;
        len += parts[i].len;
        if (len > NET_MAX_PACKET)
            return -EMSGSIZE;
    }
    unsigned flags = packet ? packet->flags : 0;
    unsigned gso_size = packet ? packet->gso_size : 0;
    bool csum = flags & NET_PACKET_CSUM_BLANK;
    if (len < 14)
        return -EINVAL;
    if ((csum && !(n->offloads & NET_OFFLOAD_CSUM))
        || (gso_size && !(n->offloads & NET_OFFLOAD_GSO)) || gso_size > 0xffff)
        return -EINVAL;
    if (len > NET_MAX_FRAME && !gso_size)
        return -EMSGSIZE;
    unsigned data_slots = unsigned((len + kPageSize - 1) / kPageSize);
    unsigned ring_slots = data_slots + (gso_size ? 1 : 0);
    mutex_lock(&n->tx_lock);
    long result = -EIO;
    while (!failed(n)) {
        if (quiesced(n)) {
            sit_out_suspend(n, &n->tx_lock);
            continue;
        }
        if (!reap_tx(n))
            break;
        if (n->tx_free_count < data_slots || n->tx.free_slots() < ring_slots) {
            if (!n->tx.more_after_final_check())
                waitq_sleep_while(&n->waiters, no_tx_response, n);
            continue;
        }
        // The packet, page by page.
        uint16_t ids[kMaxPacketSlots];
        unsigned part = 0;
        size_t part_offset = 0;
        for (unsigned s = 0; s < data_slots; ++s) {
            ids[s] = n->tx_free[--n->tx_free_count];
            n->tx_busy[ids[s]] = true;
            uint8_t* to = n->tx_buf[ids[s]];
            size_t room = kPageSize;
            while (room && part < count) {
                size_t chunk = parts[part].len - part_offset;
                if (chunk > room)
                    chunk = room;
                memcpy(to, static_cast<const uint8_t*>(parts[part].data) + part_offset, chunk);
                to += chunk;
                room -= chunk;
                part_offset += chunk;
                if (part_offset == parts[part].len) {
                    ++part;
                    part_offset = 0;
                }
            }
        }
        for (unsigned s = 0; s < data_slots; ++s) {
            netif_tx_request request {};
            request.gref = n->tx_gref[ids[s]];
            request.offset = 0;
            request.id = ids[s];
            bool last = s + 1 == data_slots;
            // The first request carries the whole packet's length, the others their own.
            request.size = uint16_t(s == 0 ? len : (last ? len - s * kPageSize : kPageSize));
            if (!last)
                request.flags |= NETTXF_more_data;
            if (s == 0 && csum)
                request.flags |= NETTXF_csum_blank | NETTXF_data_validated;
            if (s == 0 && gso_size)
                request.flags |= NETTXF_extra_info;
            n->tx.push(request);
            if (s == 0 && gso_size) {
                netif_extra_info extra {};
                extra.type = XEN_NETIF_EXTRA_TYPE_GSO;
                extra.u.gso.size = uint16_t(gso_size);
                extra.u.gso.type = XEN_NETIF_GSO_TYPE_TCPV4;
                netif_tx_request slot;
                static_assert(sizeof slot >= sizeof extra);
                memset(&slot, 0, sizeof slot);
                memcpy(&slot, &extra, sizeof extra);
                n->tx.push(slot);
            }
        }
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

long peek(Nic* n, struct net_packet* packet)
{
    mutex_lock(&n->rx_lock);
    long length = wait_packet(n);
    if (length >= 0 && packet) {
        packet->len = size_t(length);
        packet->flags = n->rx_flags;
        packet->gso_size = n->rx_gso_size;
    }
    mutex_unlock(&n->rx_lock);
    return length;
}

long take(Nic* n, const struct net_buffer* buffers, unsigned count)
{
    mutex_lock(&n->rx_lock);
    long length = wait_packet(n);
    if (length >= 0) {
        unsigned b = 0;
        size_t b_offset = 0;
        for (unsigned i = 0; i < n->rx_piece_count && b < count; ++i) {
            const RxPiece& piece = n->rx_pieces[i];
            const uint8_t* from = n->rx_buf[piece.buf] + piece.offset;
            size_t left = piece.len;
            while (left && b < count) {
                size_t chunk = buffers[b].len - b_offset;
                if (chunk > left)
                    chunk = left;
                memcpy(static_cast<uint8_t*>(buffers[b].data) + b_offset, from, chunk);
                from += chunk;
                left -= chunk;
                b_offset += chunk;
                if (b_offset == buffers[b].len) {
                    ++b;
                    b_offset = 0;
                }
            }
        }
        ++n->stats.rx_frames;
        recycle_rx_packet(n);
    }
    mutex_unlock(&n->rx_lock);
    return length;
}

} // namespace domus::guest::netfront
