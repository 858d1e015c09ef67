// FrontRing: the frontend's end of a Xen shared ring (include/domus/abi/ring.h): requests
// produced into the slots and published with one release store, responses consumed with
// the backend's index read once and checked (a backend that claims more responses than
// requests were made is broken, not trusted), event indices for both notifications.
#pragma once

#include <domus/abi/ring.h>

#include <string.h>

namespace domus::guest {

template <class Entry, class Request, class Response> class FrontRing {
public:
    // `page` is zeroed here; both sides want the first notification.
    void init(void* page, size_t bytes)
    {
        memset(page, 0, bytes);
        header_ = static_cast<ring_sring_header*>(page);
        entries_ = reinterpret_cast<Entry*>(static_cast<char*>(page) + sizeof(ring_sring_header));
        size_ = ring_nr_entries(uint32_t(bytes), sizeof(Entry));
        header_->req_event = header_->rsp_event = 1;
        req_prod_pvt_ = rsp_cons_ = 0;
    }

    uint32_t size() const { return size_; }
    void* page() const { return header_; }
    RING_IDX requests_made() const { return req_prod_pvt_; } // the next request's position
    RING_IDX responses_consumed() const { return rsp_cons_; } // the next response's position
    // Slots free for new requests (every request in flight keeps its slot).
    uint32_t free_slots() const { return size_ - (req_prod_pvt_ - rsp_cons_); }
    void push(const Request& request)
    {
        memcpy(&entries_[req_prod_pvt_ & (size_ - 1)], &request, sizeof request);
        ++req_prod_pvt_;
    }
    // Publishes the pushed requests; true when the backend asked to be notified.
    bool publish()
    {
        RING_IDX old = header_->req_prod;
        __atomic_store_n(&header_->req_prod, req_prod_pvt_, __ATOMIC_RELEASE);
        __atomic_thread_fence(__ATOMIC_SEQ_CST); // req_prod before req_event
        RING_IDX event = __atomic_load_n(&header_->req_event, __ATOMIC_RELAXED);
        return RING_IDX(req_prod_pvt_ - event) < RING_IDX(req_prod_pvt_ - old);
    }

    enum class Next { response, empty, broken };
    // Copies out the next response.
    Next next(Response& out)
    {
        RING_IDX prod = __atomic_load_n(&header_->rsp_prod, __ATOMIC_ACQUIRE);
        if (RING_IDX(prod - rsp_cons_) > RING_IDX(req_prod_pvt_ - rsp_cons_))
            return Next::broken;
        if (prod == rsp_cons_)
            return Next::empty;
        memcpy(&out, &entries_[rsp_cons_ & (size_ - 1)], sizeof out);
        ++rsp_cons_;
        return Next::response;
    }
    // Before sleeping: ask for a notification on the next response, then look again.
    bool more_after_final_check()
    {
        __atomic_store_n(&header_->rsp_event, rsp_cons_ + 1, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_SEQ_CST); // rsp_event before the second look
        return __atomic_load_n(&header_->rsp_prod, __ATOMIC_ACQUIRE) != rsp_cons_;
    }
    bool responses_waiting() const
    {
        return __atomic_load_n(&header_->rsp_prod, __ATOMIC_ACQUIRE) != rsp_cons_;
    }

private:
    ring_sring_header* header_ = nullptr;
    Entry* entries_ = nullptr;
    uint32_t size_ = 0;
    RING_IDX req_prod_pvt_ = 0;
    RING_IDX rsp_cons_ = 0;
};

} // namespace domus::guest
