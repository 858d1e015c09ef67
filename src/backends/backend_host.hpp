// BackendHost: a split-driver device's whole view of the host that serves it: the
// frontend's grants, the device's event channel, and the store. The monitor gives each
// device one of its own; a driver domain would implement the same interface over a
// foreign-mapping device, and tests implement it with fakes.
#pragma once

#include <cstddef>
#include <memory>
#include <span>

#include "backends/xenbus_store.hpp"
#include "base/result.hpp"

#include <domus/abi/event_channel.h>
#include <domus/abi/grant_table.h>
#include <domus/abi/xen.h>

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

// What a device's data path (a ring engine such as BlkBack) needs from the host: the
// frontend's grants and a way to notify it. Called from the device thread only.
class DataPathHost {
public:
    virtual ~DataPathHost() = default;

    // Maps the pages behind the frontend's grants `refs` (in that order), for writing too
    // if `writable`, into `pages`: all of them, or none and an error naming the cause for
    // the first grant the frontend may not give. `pages` is reused when it holds an object
    // from an earlier call (its uses end first), created otherwise. One call a request:
    // the host takes one lock, not one a page.
    virtual Result<void> map_grants(std::span<const grant_ref_t> refs, bool writable,
                                    std::unique_ptr<MappedPages>& pages) = 0;
    // Raises the device's event channel in the frontend (nothing when none is bound).
    virtual void notify_frontend() = 0;
};

// The whole of it, for the device: the data path's needs, the event channel's binding and
// the store. Called from the device thread; the device owns its host, so the host
// outlives every call.
class BackendHost : public DataPathHost {
public:
    // The frontend's domain.
    virtual domid_t frontend_id() const noexcept = 0;

    // Takes the unbound event channel `port` the frontend offered to this backend's
    // domain: from then on the frontend's notifications on it signal the eventfd
    // `doorbell_fd` (without waking the monitor), and notify_frontend() raises it.
    // One channel a device: binding again replaces the previous one.
    virtual Result<void> bind_frontend(evtchn_port_t port, int doorbell_fd) = 0;
    // Gives the channel back (no-op when none is bound).
    virtual void unbind_frontend() noexcept = 0;

    // The device's own Domain-0 connection to the store.
    virtual XenbusStore& store() = 0;
};

}  // namespace domus::backends
