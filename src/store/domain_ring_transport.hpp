// DomainRingTransport: serves one guest's xenstore ring page (reference section 2) to
// the store. The guest is hostile: indices are read once per pass and bounded by the
// ring size, bytes are copied out before the store looks at them, and a misbehaving
// guest only loses its own connection (the `error` field says why).
//
// Surviving a store restart: the requests in the ring are handled as one batch, which
// is journaled (with its replies and the ring indices around it) before req_cons moves
// past it and before its replies enter the ring; a new batch is read only once all
// earlier output is in the ring, and output enters the ring in whole messages where it
// fits. A restarted store re-attached to the same page (restore()) finishes the last
// journaled batch from the journal instead of handling it again.
//
// A guest kicks after consuming output only when the ring was full (Linux's xenbus
// rule; ours too, since a kick costs the guest an exit). Output waiting for whole-message
// space in a ring that is not full is therefore retried on a timer (retry_fd()), from
// 1 ms backing off to 64 ms, until it is all in the ring.
#pragma once

#include <domus/abi/xs_wire.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "base/fd.hpp"
#include "base/log.hpp"
#include "base/mapping.hpp"
#include "store/event_router.hpp"
#include "store/state_journal.hpp"

namespace domus::store {

class DomainRingTransport final : public Peer {
public:
    // A bound on the replies queued outside the ring for a guest that does not consume
    // them (its "outstanding requests" quota, in bytes). In fact no request is read
    // while any output waits outside the ring (the journal needs the batch's replies to
    // start at rsp_prod), so the queue stays far below it; reading resumes as it consumes.
    static constexpr std::size_t kReplyBackpressure = 8 * 1024;
    // Watch events queued beyond this are dropped (whole messages), so a guest that
    // never consumes cannot grow the daemon without bound.
    static constexpr std::size_t kMaxPendingOutput = 1024 * 1024;

    // `page` maps the shared ring page (at least sizeof(xenstore_domain_interface) bytes).
    // `guest_notify` becomes readable when the guest kicked its store port;
    // `store_notify` is written to raise the port in the guest. Opens an unprivileged
    // store connection for `domid` and advertises XENSTORE_SERVER_FEATURE_ERROR.
    // `existing`: a connection restored after a store restart (with its watches), else
    // a new one is opened; `journal` may be null (no durability).
    DomainRingTransport(Store& store, EventRouter& router, DomainId domid, Mapping page,
                        Fd guest_notify, Fd store_notify, StateJournal* journal = nullptr,
                        Connection* existing = nullptr);
    ~DomainRingTransport();
    DomainRingTransport(const DomainRingTransport&) = delete;
    DomainRingTransport& operator=(const DomainRingTransport&) = delete;

    // Call when guest_notify_fd() is readable (or, in tests, after writing it; the fd
    // should then be non-blocking). Drains the eventfd, moves queued output into the
    // space the guest freed, reads the requests the guest produced, answers them and
    // routes the watch events they caused. Anything thrown meanwhile cuts off this
    // guest only (XENSTORE_ERROR_COMM); the daemon and the other clients go on.
    void on_guest_notify() noexcept;
    // Call when retry_fd() is readable: output waits for space the guest may have freed
    // without a kick. Serves the ring as on_guest_notify() does.
    void on_retry() noexcept;

    // Peer: queues replies / watch events and writes what fits into `rsp`.
    void send(std::string_view bytes) noexcept override;

    // After a restart: completes the connection's last journaled batch (req_cons past
    // it, the rest of its replies into the ring), as the store that died would have.
    void restore() noexcept;

    int guest_notify_fd() const noexcept { return guest_notify_.get(); }
    int store_notify_fd() const noexcept { return store_notify_.get(); }
    // A timerfd, readable when queued output should be retried (call on_retry()).
    int retry_fd() const noexcept { return retry_.get(); }
    // When the retry timer fires next, in ns from its arming; 0: disarmed.
    std::uint64_t retry_delay_ns() const noexcept { return retry_delay_ns_; }
    ConnectionId connection_id() const noexcept { return connection_id_; }
    DomainId domid() const noexcept { return domid_; }
    // XENSTORE_ERROR_NONE while serving; else why the guest was cut off.
    std::uint32_t error() const noexcept { return error_; }
    std::size_t pending_output() const noexcept { return pending_.size() - pending_head_; }
    std::uint64_t dropped_events() const noexcept { return dropped_events_; }
    // This guest's warnings not logged (over the per-guest rate limit).
    std::uint64_t suppressed_warnings() const noexcept { return warnings_.suppressed(); }

private:
    xenstore_domain_interface* ring() const noexcept;
    void consume_requests();
    // How many bytes from pending_head_ to write now: whole messages that fit in
    // `space`, or (for a message bigger than the ring) as much as fits.
    std::size_t writable(std::size_t space) const noexcept;
    void flush_output();
    // Flush, read and answer requests, route their events, notify: one pass.
    void serve() noexcept;
    // Arms the retry timer while output waits outside the ring, disarms it once none does.
    void schedule_retry() noexcept;
    void fail(std::uint32_t error) noexcept;
    void notify_guest();
    // Logs a warning about this guest, within its own rate limit: a guest flooding the
    // log silences only itself. Never throws (it runs on the failure paths).
    template <class... Args>
    void warn(fmt::format_string<Args...> format, Args&&... args) noexcept {
        try {
            if (warnings_.allow()) DOMUS_LOG_WARN("xenstored", format, std::forward<Args>(args)...);
        } catch (...) {  // out of memory: the warning is lost, not the daemon
        }
    }

    Store& store_;
    EventRouter& router_;
    DomainId domid_;
    Mapping ring_;
    Fd guest_notify_;
    Fd store_notify_;
    Fd retry_;                          // timerfd: see on_retry()
    std::uint64_t retry_delay_ns_ = 0;  // armed for this long; doubles while nothing moves
    StateJournal* journal_;
    Connection* connection_;  // null once failed
    ConnectionId connection_id_;
    XENSTORE_RING_IDX req_cons_;  // our copies: the guest may scribble on the page
    XENSTORE_RING_IDX rsp_prod_;
    std::string pending_;  // encoded output not yet in the ring, from pending_head_
    std::size_t pending_head_ = 0;
    std::size_t partial_left_ = 0;  // bytes of a message already begun in the ring
    std::string partial_;           // the consumed start of a request bigger than the ring
    bool ring_changed_ = false;     // an index moved since the last notification
    std::uint32_t error_ = XENSTORE_ERROR_NONE;
    std::uint64_t dropped_events_ = 0;
    log::RateLimit warnings_;
};

}  // namespace domus::store
