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

// One granted page in use; releasing it (destruction) ends the use.
class MappedPage {
public:
    virtual ~MappedPage() = default;
    virtual std::span<std::byte> bytes() noexcept = 0;
};

class BackendHost {
public:
    virtual ~BackendHost() = default;
    // The page behind the frontend's grant `ref`, for writing too if `writable`.
    // Fails (with a message naming the cause) for any grant the frontend may not give.
    virtual Result<std::unique_ptr<MappedPage>> map_grant(grant_ref_t ref, bool writable) = 0;
    // Raises the device's event channel in the frontend.
    virtual void notify_frontend() = 0;
};

}  // namespace domus::backends
