// BackendHost: what a split-driver backend needs from the monitor that hosts it, and
// nothing more: access to pages the frontend granted, and a way to notify it. A driver
// domain would implement the same interface over a foreign-mapping device.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "base/result.hpp"

#include <domus/abi/blkif.h>

namespace domus::backends {

// The pages of several grants in use together (one request's segments, or its indirect
// pages). release() (or destruction) ends every use; a released object can be handed to
// map_grants again, so a backend reuses one per request slot and allocates nothing.
class MappedPages {
public:
    virtual ~MappedPages() = default;
    virtual std::size_t size() const noexcept = 0;
    virtual std::span<std::byte> page(std::size_t i) const noexcept = 0;
    virtual void release() noexcept = 0;
};

class BackendHost {
public:
    virtual ~BackendHost() = default;
    // Maps the pages behind the frontend's grants `refs` (in that order), for writing too
    // if `writable`, into `pages`: all of them, or none and an error naming the cause for
    // the first grant the frontend may not give. `pages` is reused when it holds an object
    // from an earlier call (its uses end first), created otherwise. One call a request:
    // the host takes one lock, not one a page.
    virtual Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                                    std::unique_ptr<MappedPages>& pages) = 0;
    // Raises the device's event channel in the frontend.
    virtual void notify_frontend() = 0;
};

}  // namespace domus::backends
