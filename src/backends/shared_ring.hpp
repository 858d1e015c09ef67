// BackendRing: the backend's end of a Xen shared ring (include/domus/abi/ring.h) over
// memory the frontend also writes. The frontend is untrusted: its index is read once
// per pass and checked, each request is copied out before anyone looks at it, and a
// pass never takes more requests than there are free response slots.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include <domus/abi/ring.h>

namespace domus::backends {

template <class Entry, class Request, class Response>
class BackendRing {
    static_assert(sizeof(Request) <= sizeof(Entry) && sizeof(Response) <= sizeof(Entry));

public:
    enum class Next { request, empty, overflow };

    // `area` is the whole shared ring (header + entries), page-aligned, mapped for us.
    explicit BackendRing(std::span<std::byte> area)
        : header_(reinterpret_cast<ring_sring_header*>(area.data())),
          entries_(reinterpret_cast<Entry*>(area.data() + sizeof(ring_sring_header))),
          size_(ring_nr_entries(std::uint32_t(area.size()), sizeof(Entry))) {}

    // Takes over a ring another BackendRing served until now and left with every request
    // it took answered and published (the backend's engine is replaced under a live
    // frontend): both private indices continue from the published rsp_prod.
    struct Resume {};
    BackendRing(std::span<std::byte> area, Resume) : BackendRing(area) {
        req_cons_ = rsp_prod_pvt_ = prod_snapshot_ =
            load(header_->rsp_prod, std::memory_order_acquire);
    }

    std::uint32_t size() const noexcept { return size_; }
    RING_IDX req_cons() const noexcept { return req_cons_; }

    // Copies the next request out of the ring. `overflow` means the frontend claims more
    // requests than the ring can hold: it is misbehaving and the caller should stop
    // serving it.
    Next next(Request& out) noexcept {
        if (req_cons_ == prod_snapshot_) {
            // Acquire: the slots written before req_prod are visible after this load.
            RING_IDX prod = load(header_->req_prod, std::memory_order_acquire);
            if (RING_IDX(prod - rsp_prod_pvt_) > size_) return Next::overflow;  // not kept
            prod_snapshot_ = prod;
        }
        if (req_cons_ == prod_snapshot_) return Next::empty;
        if (RING_IDX(req_cons_ - rsp_prod_pvt_) >= size_)
            return Next::empty;  // no free response slot
        std::memcpy(&out, &entries_[req_cons_ & (size_ - 1)],
                    sizeof(Request));  // the only read of the slot
        ++req_cons_;
        return Next::request;
    }

    // How many requests next() would hand out now (the frontend's index re-read and
    // checked); false when the frontend claims more than the ring holds. An index that
    // went backwards offers nothing.
    bool available(std::uint32_t& count) noexcept {
        RING_IDX prod = load(header_->req_prod, std::memory_order_acquire);
        if (RING_IDX(prod - rsp_prod_pvt_) > size_) return false;
        prod_snapshot_ = prod;
        RING_IDX taken = req_cons_ - rsp_prod_pvt_;
        RING_IDX queued = prod - rsp_prod_pvt_;
        count = queued > taken ? queued - taken : 0;  // ≤ the free response slots
        return true;
    }

    void push_response(const Response& response) noexcept {
        std::memcpy(&entries_[rsp_prod_pvt_ & (size_ - 1)], &response, sizeof(Response));
        ++rsp_prod_pvt_;
    }

    // Publishes pushed responses; true when the frontend asked to be notified (its
    // rsp_event lies in (old, new]).
    bool publish_responses() noexcept {
        RING_IDX old_prod = load(header_->rsp_prod, std::memory_order_relaxed);
        RING_IDX new_prod = rsp_prod_pvt_;
        // Release: the response slots are written before the index that publishes them.
        store(header_->rsp_prod, new_prod, std::memory_order_release);
        // Full barrier: the rsp_prod store must be visible before we read rsp_event.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        RING_IDX event = load(header_->rsp_event, std::memory_order_relaxed);
        return RING_IDX(new_prod - event) < RING_IDX(new_prod - old_prod);
    }

    // Before sleeping: ask for a notification on the next request, then look again.
    // True when requests arrived meanwhile (keep going instead of sleeping).
    bool more_after_final_check() noexcept {
        store(header_->req_event, req_cons_ + 1, std::memory_order_relaxed);
        // Full barrier: req_event must be visible before we re-read req_prod.
        std::atomic_thread_fence(std::memory_order_seq_cst);
        // next() re-reads and checks req_prod when it finds the snapshot used up.
        return load(header_->req_prod, std::memory_order_acquire) != req_cons_;
    }

private:
    static RING_IDX load(RING_IDX& index, std::memory_order order) noexcept {
        return std::atomic_ref<RING_IDX>(index).load(order);
    }
    static void store(RING_IDX& index, RING_IDX value, std::memory_order order) noexcept {
        std::atomic_ref<RING_IDX>(index).store(value, order);
    }

    ring_sring_header* header_;
    Entry* entries_;
    std::uint32_t size_;
    RING_IDX req_cons_ = 0;
    RING_IDX rsp_prod_pvt_ = 0;
    RING_IDX prod_snapshot_ = 0;
};

}  // namespace domus::backends
