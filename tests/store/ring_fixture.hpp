// Test helper: a fake guest for DomainRingTransport. A ring page in a memfd (mapped
// twice, as guest and monitor would), two eventfds, and the guest's half of the
// xenstore ring protocol, so tests read like a guest driving its ring.
#pragma once

#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/fd.hpp"
#include "base/mapping.hpp"
#include "store/domain_ring_transport.hpp"

namespace domus::store::testing {

inline Mapping map_page(int memfd, off_t offset) {
    void* p = ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, offset);
    return p == MAP_FAILED ? Mapping() : Mapping(p, 4096);
}

// The guest's view of one ring page and its two eventfds.
class FakeGuest {
public:
    static constexpr off_t kRingOffset = 4096;  // second page of an 8 KiB "RAM"

    FakeGuest()
        : memory_(::memfd_create("guest-ram", MFD_CLOEXEC)),
          guest_notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)),
          store_notify_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
        [[maybe_unused]] int rc = ::ftruncate(memory_.get(), 2 * 4096);
        page_ = map_page(memory_.get(), kRingOffset);
    }

    xenstore_domain_interface* ring() const {
        return reinterpret_cast<xenstore_domain_interface*>(page_.data());
    }
    int memfd() const { return memory_.get(); }
    int guest_notify_fd() const { return guest_notify_.get(); }
    int store_notify_fd() const { return store_notify_.get(); }
    Fd dup_fd(int fd) const { return Fd(::dup(fd)); }

    // Sets all four indices (before the transport attaches).
    void set_indices(XENSTORE_RING_IDX value) {
        ring()->req_cons = ring()->req_prod = ring()->rsp_cons = ring()->rsp_prod = value;
    }

    // Copies as much of `bytes` as fits into `req`; returns how much.
    std::size_t produce(std::string_view bytes) {
        auto* r = ring();
        XENSTORE_RING_IDX cons = load(r->req_cons), prod = r->req_prod;
        std::size_t n = std::min<std::size_t>(bytes.size(), XENSTORE_RING_SIZE - (prod - cons));
        for (std::size_t i = 0; i < n; ++i)
            r->req[MASK_XENSTORE_IDX(prod + i)] = bytes[i];
        std::atomic_ref<XENSTORE_RING_IDX>(r->req_prod)
            .store(prod + XENSTORE_RING_IDX(n), std::memory_order_release);
        return n;
    }
    // Takes everything the server produced in `rsp` (and frees the space).
    std::string consume() {
        auto* r = ring();
        XENSTORE_RING_IDX prod = load(r->rsp_prod), cons = r->rsp_cons;
        std::string out;
        for (XENSTORE_RING_IDX i = cons; i != prod; ++i)
            out += r->rsp[MASK_XENSTORE_IDX(i)];
        std::atomic_ref<XENSTORE_RING_IDX>(r->rsp_cons).store(prod, std::memory_order_release);
        return out;
    }
    void kick() {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(guest_notify_.get(), &one, sizeof(one));
    }
    // How often the store raised the port since the last call.
    std::uint64_t store_kicks() {
        std::uint64_t count = 0;
        if (::read(store_notify_.get(), &count, sizeof(count)) != sizeof(count)) return 0;
        return count;
    }

private:
    static XENSTORE_RING_IDX load(XENSTORE_RING_IDX& index) {
        return std::atomic_ref<XENSTORE_RING_IDX>(index).load(std::memory_order_acquire);
    }
    Fd memory_;
    Fd guest_notify_;
    Fd store_notify_;
    Mapping page_;
};

}  // namespace domus::store::testing
