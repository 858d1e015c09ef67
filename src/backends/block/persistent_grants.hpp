// PersistentGrants: the grants of a frontend that negotiated `feature-persistent`, each
// mapped at its first use and kept until the ring is torn down (Linux blkback's
// persistent grants). The frontend then re-uses a fixed pool of granted pages for every
// request and copies data in and out of them itself, so a request costs the backend no
// grant map or release at all: a lookup per page.
//
// A kept mapping holds the grant in use (GTF_reading/GTF_writing set in the frontend's
// entry), so the frontend cannot revoke such a page while we may touch it. The table is
// bounded: a frontend that names more grants than a ring's worth gets the rest mapped
// per request, as without the feature.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <unordered_map>

#include "backends/backend_host.hpp"

namespace domus::backends {

class PersistentGrants {
public:
    // A full pool: 32 ring slots of 32 data pages and one indirect page each (Linux's
    // max_persistent_grants is the same 1056 for its data pages).
    static constexpr std::size_t kMaxGrants = 32 * 33;

    explicit PersistentGrants(DataPathHost& host) : host_(host) {}

    // The page behind `ref`, writable if `writable` (a grant first used read-only is
    // mapped again, writable, when a request needs that). Nothing when the table is full
    // or the grant cannot be mapped so: the caller maps it for the one request, which
    // reports the frontend's error if there is one.
    std::optional<std::span<std::byte>> page(grant_ref_t ref, bool writable);
    std::size_t size() const noexcept { return grants_.size(); }

private:
    struct Grant {
        std::unique_ptr<MappedPages> mapping;  // one page
        bool writable = false;
    };

    DataPathHost& host_;
    std::unordered_map<grant_ref_t, Grant> grants_;
};

}  // namespace domus::backends
