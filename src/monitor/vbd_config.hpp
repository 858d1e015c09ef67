// VbdConfig: one PV block device as the monitor is asked to provide it.
#pragma once

#include <cstdint>
#include <string>

#include "storage/block_image.hpp"

namespace domus::monitor {

struct VbdConfig {
    std::string target;  // image file or block device
    storage::Format format = storage::Format::raw;
    std::string vdev = "xvda";
    std::uint32_t virtual_device = 51712;  // XenBus device id (vbd numbering)
    bool read_only = false;
    bool discard = true;
};

inline VbdConfig make_vbd_config(std::string target, const std::string& format, std::string vdev,
                                 std::uint32_t virtual_device, bool read_only, bool discard) {
    return VbdConfig{
        std::move(target), format == "qcow2" ? storage::Format::qcow2 : storage::Format::raw,
        std::move(vdev),   virtual_device,
        read_only,         discard};
}

}  // namespace domus::monitor
