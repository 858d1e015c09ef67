// FramePort: where a vif's frames go to and come from on the host: its TAP, or a test's
// fake. Each frame travels with its virtio_net_hdr (offloads).
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <span>

#include "backends/net/vnet_header.hpp"
#include "base/result.hpp"

namespace domus::backends {

class FramePort {
public:
    virtual ~FramePort() = default;
    // True when sent; false when the host could not take it now (the caller drops it).
    virtual Result<bool> send(const VnetHeader& header, std::span<const iovec> frame) = 0;
    // The length of the frame read into `buffer` (its header into `header`), 0 when none
    // waits.
    virtual Result<std::size_t> receive(VnetHeader& header, std::span<std::byte> buffer) = 0;
};

}  // namespace domus::backends
