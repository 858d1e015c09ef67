// DomainRingTransport: the xenstore ring page, server side (reference section 2).
#include "store/domain_ring_transport.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "base/log.hpp"

namespace domus::store {
namespace {

constexpr XENSTORE_RING_IDX kRingSize = XENSTORE_RING_SIZE;
// Output waiting for space is retried after this, doubling while the guest frees none:
// a guest that stops reading costs the daemon a wakeup every kMaxRetryNs at most.
constexpr std::uint64_t kFirstRetryNs = 1'000'000;
constexpr std::uint64_t kMaxRetryNs = 64'000'000;

// The shared indices, read and written as atomics: the guest runs concurrently.
XENSTORE_RING_IDX load_acquire(XENSTORE_RING_IDX& index) {
    return std::atomic_ref<XENSTORE_RING_IDX>(index).load(std::memory_order_acquire);
}
void store_release(XENSTORE_RING_IDX& index, XENSTORE_RING_IDX value) {
    std::atomic_ref<XENSTORE_RING_IDX>(index).store(value, std::memory_order_release);
}

}  // namespace

DomainRingTransport::DomainRingTransport(Store& store, EventRouter& router, DomainId domid,
                                         Mapping page, Fd guest_notify, Fd store_notify,
                                         StateJournal* journal, Connection* existing)
    : store_(store),
      router_(router),
      domid_(domid),
      ring_(std::move(page)),
      guest_notify_(std::move(guest_notify)),
      store_notify_(std::move(store_notify)),
      retry_(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK)),
      journal_(journal),
      connection_(existing ? existing : &store.connect({domid, false})),
      connection_id_(connection_->id()) {
    router_.attach(*connection_, *this);
    xenstore_domain_interface* shared = ring();
    // Indices are free-running and need not start at 0: continue from the page.
    req_cons_ = load_acquire(shared->req_cons);
    rsp_prod_ = load_acquire(shared->rsp_prod);
    store_release(shared->error, XENSTORE_ERROR_NONE);
    // We keep `error` up to date; no reconnection handshake, so bit 1 stays clear.
    std::atomic_ref<std::uint32_t>(shared->server_features)
        .fetch_or(XENSTORE_SERVER_FEATURE_ERROR, std::memory_order_release);
}

DomainRingTransport::~DomainRingTransport() {
    if (!connection_) return;
    router_.detach(*connection_);
    store_.disconnect(*connection_);
}

xenstore_domain_interface* DomainRingTransport::ring() const noexcept {
    return reinterpret_cast<xenstore_domain_interface*>(ring_.data());
}

void DomainRingTransport::on_guest_notify() noexcept {
    std::uint64_t count;
    // Non-blocking in effect: called when readable. EAGAIN (test fds) is harmless.
    [[maybe_unused]] auto n = ::read(guest_notify_.get(), &count, sizeof(count));
    serve();
}

void DomainRingTransport::on_retry() noexcept {
    std::uint64_t expirations;
    [[maybe_unused]] auto n = ::read(retry_.get(), &expirations, sizeof(expirations));
    serve();
}

void DomainRingTransport::serve() noexcept {
    if (!connection_) return;  // failed: the guest is no longer served
    XENSTORE_RING_IDX written = rsp_prod_;
    try {
        flush_output();  // the guest may have consumed replies
        if (connection_) consume_requests();
        if (connection_) flush_output();
        router_.route();  // events for other connections, caused by this guest's requests
    } catch (...) {
        // Whatever broke (out of memory, a bug this guest's input found), it costs
        // this guest its connection and nobody else anything.
        if (connection_) fail(XENSTORE_ERROR_COMM);
    }
    if (rsp_prod_ != written) retry_delay_ns_ = 0;  // output moved: retry soon again
    notify_guest();
    schedule_retry();
}

void DomainRingTransport::schedule_retry() noexcept {
    bool waiting = connection_ && pending_output() > 0;
    if (!waiting && retry_delay_ns_ == 0) return;
    itimerspec when{};
    if (waiting) {
        retry_delay_ns_ =
            retry_delay_ns_ == 0 ? kFirstRetryNs : std::min(retry_delay_ns_ * 2, kMaxRetryNs);
        when.it_value.tv_sec = time_t(retry_delay_ns_ / 1'000'000'000);
        when.it_value.tv_nsec = long(retry_delay_ns_ % 1'000'000'000);
    } else {
        retry_delay_ns_ = 0;  // disarm
    }
    ::timerfd_settime(retry_.get(), 0, &when, nullptr);
}

void DomainRingTransport::consume_requests() {
    // A batch only once all earlier output is in the ring: then its replies start at
    // rsp_prod_, which the journal record states.
    if (pending_output() > 0) return;
    xenstore_domain_interface* page = ring();
    // One read of the guest's index per pass; anything after it comes with a new kick.
    XENSTORE_RING_IDX prod = load_acquire(page->req_prod);
    XENSTORE_RING_IDX available = prod - req_cons_;
    if (available > kRingSize) return fail(XENSTORE_ERROR_RINGIDX);
    if (available == 0) return;

    // The start of a request bigger than the ring, consumed already, then the ring.
    std::string bytes = partial_;
    std::size_t from_ring = bytes.size();
    bytes.resize(from_ring + available);
    XENSTORE_RING_IDX start = MASK_XENSTORE_IDX(req_cons_);
    XENSTORE_RING_IDX first = std::min(available, kRingSize - start);
    std::memcpy(bytes.data() + from_ring, page->req + start, first);
    std::memcpy(bytes.data() + from_ring + first, page->req, available - first);

    // The whole requests in the copy; a partial one stays in the ring for the next
    // kick (so that a restarted store finds it there), unless it fills the ring.
    Decoder decoder;
    decoder.feed(bytes);
    std::string output;
    std::size_t used = 0;
    while (true) {
        auto next = decoder.next();
        if (next.status == Decoder::Status::Violation) {
            warn("dom{}: request payload over {} bytes; ring closed", domid_, XENSTORE_PAYLOAD_MAX);
            return fail(XENSTORE_ERROR_PROTO);
        }
        if (next.status == Decoder::Status::NeedMore) break;
        used += sizeof(xsd_sockmsg) + next.message.payload.size();
        encode(store_.handle(*connection_, next.message), output);
        output += store_.take_event_bytes(*connection_);
    }
    XENSTORE_RING_IDX consumed;
    if (used > 0) {
        consumed = XENSTORE_RING_IDX(used - from_ring);  // partial_ is the first one's start
        partial_.clear();
    } else if (available == kRingSize) {
        consumed = available;  // a request bigger than the ring: take its start
        partial_ = std::move(bytes);
    } else {
        return;
    }
    if (journal_) {
        store_.set_last_reply(*connection_,
                              ReplyRecord{partial_, output, true, req_cons_ + consumed, rsp_prod_});
        journal_->commit();
    }
    pending_.append(output);
    // The copy above must complete before the guest may reuse the space.
    std::atomic_thread_fence(std::memory_order_seq_cst);
    req_cons_ += consumed;
    store_release(page->req_cons, req_cons_);
    ring_changed_ = true;
}

std::size_t DomainRingTransport::writable(std::size_t space) const noexcept {
    std::size_t available = pending_output();
    if (partial_left_ > 0) return std::min({space, partial_left_, available});
    std::size_t whole = 0;
    while (available - whole >= sizeof(xsd_sockmsg)) {
        xsd_sockmsg header;
        std::memcpy(&header, pending_.data() + pending_head_ + whole, sizeof(header));
        std::size_t size = sizeof(header) + header.len;
        if (whole + size > space) {
            // Bigger than the ring: it can only go in pieces.
            if (whole == 0 && size > kRingSize) return std::min(space, size);
            break;
        }
        whole += size;
    }
    return whole;
}

void DomainRingTransport::flush_output() {
    if (pending_output() == 0) return;
    xenstore_domain_interface* page = ring();
    XENSTORE_RING_IDX cons = load_acquire(page->rsp_cons);
    XENSTORE_RING_IDX used = rsp_prod_ - cons;
    if (used > kRingSize) return fail(XENSTORE_ERROR_RINGIDX);
    XENSTORE_RING_IDX space = kRingSize - used;
    // Whole messages where they fit, so that a store killed now leaves none half-written.
    auto count = static_cast<XENSTORE_RING_IDX>(writable(space));
    if (count == 0) return;
    if (partial_left_ > 0) {
        partial_left_ -= count;
    } else if (pending_output() >= sizeof(xsd_sockmsg)) {
        xsd_sockmsg header;
        std::memcpy(&header, pending_.data() + pending_head_, sizeof(header));
        std::size_t size = sizeof(header) + header.len;
        if (count < size) partial_left_ = size - count;
    }
    const char* source = pending_.data() + pending_head_;
    XENSTORE_RING_IDX start = MASK_XENSTORE_IDX(rsp_prod_);
    XENSTORE_RING_IDX first = std::min(count, kRingSize - start);
    std::memcpy(page->rsp + start, source, first);
    std::memcpy(page->rsp, source + first, count - first);
    rsp_prod_ += count;
    store_release(page->rsp_prod, rsp_prod_);  // release: the bytes before the index
    ring_changed_ = true;
    pending_head_ += count;
    if (pending_head_ == pending_.size()) {
        pending_.clear();
        pending_head_ = 0;
    } else if (pending_head_ > pending_.size() / 2) {
        pending_.erase(0, pending_head_);
        pending_head_ = 0;
    }
}

void DomainRingTransport::restore() noexcept {
    if (!connection_) return;
    const auto& last = connection_->last_reply();
    if (!last || !last->ring) return;
    try {
        // The batch was applied (it is journaled): if the page still shows it, move past.
        XENSTORE_RING_IDX behind = last->req_cons_after - req_cons_;
        if (behind != 0 && behind <= kRingSize) {
            req_cons_ = last->req_cons_after;
            store_release(ring()->req_cons, req_cons_);
            ring_changed_ = true;
        }
        partial_ = last->request;
        // Its output from where the ring shows it stopped (mid-message only for a
        // message bigger than the ring).
        XENSTORE_RING_IDX written = rsp_prod_ - last->rsp_prod_before;
        const std::string& output = last->reply;
        if (written < output.size()) {
            pending_.assign(output, written);
            pending_head_ = 0;
            for (std::size_t at = 0; at + sizeof(xsd_sockmsg) <= output.size();) {
                xsd_sockmsg header;
                std::memcpy(&header, output.data() + at, sizeof(header));
                std::size_t end = at + sizeof(header) + header.len;
                if (written < end) {
                    partial_left_ = written > at ? end - written : 0;
                    break;
                }
                at = end;
            }
        }
        flush_output();
    } catch (...) {
        if (connection_) fail(XENSTORE_ERROR_COMM);
    }
    notify_guest();
}

void DomainRingTransport::send(std::string_view bytes) noexcept {
    if (!connection_) return;
    if (pending_output() + bytes.size() > kMaxPendingOutput) {
        ++dropped_events_;
        warn("dom{}: not consuming its ring; watch events dropped", domid_);
        return;
    }
    try {
        pending_.append(bytes);
        flush_output();
    } catch (...) {  // as in on_guest_notify: only this guest pays
        if (connection_) fail(XENSTORE_ERROR_COMM);
    }
    notify_guest();
    if (retry_delay_ns_ == 0) schedule_retry();  // an armed timer keeps its backoff
}

void DomainRingTransport::fail(std::uint32_t error) noexcept {
    error_ = error;
    store_release(ring()->error, error);
    router_.detach(*connection_);
    store_.disconnect(*connection_);  // drops its watches and transactions
    connection_ = nullptr;
    pending_.clear();
    pending_head_ = 0;
    partial_left_ = 0;
    ring_changed_ = true;
    warn("dom{}: ring error {}; no longer served", domid_, error);
}

void DomainRingTransport::notify_guest() {
    if (!ring_changed_) return;
    ring_changed_ = false;
    std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(store_notify_.get(), &one, sizeof(one));
}

}  // namespace domus::store
