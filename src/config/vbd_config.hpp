// VbdConfig: one PV block device as the monitor is asked to provide it.
#pragma once

#include <cstdint>
#include <string>

#include "config/disk_format.hpp"

namespace domus::config {

struct VbdConfig {
    std::string target;  // image file or block device
    DiskFormat format = DiskFormat::raw;
    std::string vdev = "xvda";
    std::uint32_t virtual_device = 51712;  // XenBus device id (vbd numbering)
    bool read_only = false;
    bool discard = true;
    // O_DIRECT on a raw image. A qcow2 overlay that a snapshot puts on top of it is
    // served through the page cache (qcow2 images never use O_DIRECT).
    bool direct_io = false;
    std::uint64_t rate_bytes = 0;  // bytes a second (DISKSPEC rate_bytes=), 0: unlimited
    std::uint64_t rate_iops = 0;   // requests a second (rate_iops=), 0: unlimited
};

}  // namespace domus::config
