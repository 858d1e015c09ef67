// The domains the store serves (INTRODUCE / RELEASE / RESUME / SET_TARGET), and
// the changes a transport must act on: map the ring and bind the port of an
// introduced domain, stop serving a released one.
#pragma once

#include <cstdint>
#include <map>
#include <optional>

#include "store/path.hpp"

namespace domus::store {

struct DomainRecord {
    DomainId domid = 0;
    std::uint64_t ring_gfn = 0;    // frame of the guest's xenstore ring page
    std::uint32_t event_port = 0;  // unbound port in the guest, to bind to
    bool release_fired = false;    // @releaseDomain fired since the last RESUME
};

struct DomainChange {
    enum class Kind { Introduced, Released };
    Kind kind;
    DomainRecord domain;  // Introduced also on a re-INTRODUCE with a new port
};

}  // namespace domus::store
