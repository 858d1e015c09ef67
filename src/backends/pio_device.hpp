// PioDevice: the interface a port-I/O device model offers the monitor. The monitor
// routes each KVM_EXIT_IO on a claimed port range to io(); backends never see KVM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace domus::backends {

// A claimed range of I/O ports, both ends included.
struct PioRange {
    std::uint16_t first_port;
    std::uint16_t last_port;
};

class PioDevice {
public:
    virtual ~PioDevice() = default;

    // One port-I/O exit: `count` accesses of `size` bytes (1, 2 or 4) at `port`, in
    // order; count > 1 for string I/O (rep ins/outs), which KVM batches. `data` holds
    // size * count bytes: the values written (is_write) or the buffer to fill for a read.
    // Everything here is guest-controlled and must be checked. Runs on the exiting vCPU's
    // thread; several vCPUs may call at once, so the device serializes itself.
    virtual void io(std::uint16_t port, std::uint8_t size, std::uint32_t count, bool is_write,
                    std::span<std::byte> data) noexcept = 0;
};

}  // namespace domus::backends
