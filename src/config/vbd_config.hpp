// VbdConfig: one PV block device as the monitor is asked to provide it.
#pragma once

#include <cstdint>
#include <string>

#include "storage/block_image.hpp"

namespace domus::config {

struct VbdConfig {
    std::string target;  // image file or block device
    storage::Format format = storage::Format::raw;
    std::string vdev = "xvda";
    std::uint32_t virtual_device = 51712;  // XenBus device id (vbd numbering)
    bool read_only = false;
    bool discard = true;
    // O_DIRECT on a raw image. A qcow2 overlay that a snapshot puts on top of it is
    // served through the page cache (qcow2 images never use O_DIRECT).
    bool direct_io = false;
};

inline VbdConfig make_vbd_config(std::string target, const std::string& format, std::string vdev,
                                 std::uint32_t virtual_device, bool read_only, bool discard,
                                 bool direct_io) {
    return VbdConfig{
        std::move(target), format == "qcow2" ? storage::Format::qcow2 : storage::Format::raw,
        std::move(vdev),   virtual_device,
        read_only,         discard,
        direct_io};
}

}  // namespace domus::config
