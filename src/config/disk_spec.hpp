// DiskSpec: one xl DISKSPEC string (`disk = [ '...' ]` in xl.cfg, `--disk` on the CLI)
// parsed into what a block backend needs. Positional items fill target, format, vdev,
// access in that order; key=value items and flags may be mixed in; `target=` swallows
// the rest of the string. Domus adds a rate limit (no xl key exists for one):
//   rate_bytes=N[K|M|G]  bytes a second the guest may move (reads and writes together)
//   rate_iops=N          requests a second
// Requests over the limit wait on the ring; none fails. 0 or absent: unlimited.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace domus::config {

struct DiskSpec {
    std::string target;          // image file or block device
    std::string format = "raw";  // raw | qcow2
    std::string vdev;            // xvdX, hdX, sdX, or d<n>p<m>
    bool read_only = false;
    bool discard = true;
    // `direct-io-safe`: the backend may bypass the host page cache, and does (O_DIRECT,
    // raw images only), as Xen's backends may when the toolstack says it is safe.
    bool direct_io = false;
    std::uint32_t virtual_device = 0;  // the XenBus device id (vbd numbering, abi 4.8)
    std::uint64_t rate_bytes = 0;      // bytes a second, 0: unlimited
    std::uint64_t rate_iops = 0;       // requests a second, 0: unlimited

    bool operator==(const DiskSpec&) const = default;
};

Result<DiskSpec> parse_disk_spec(std::string_view text);
// The vbd number of a vdev name ("xvda" -> 51712); nothing for names Domus rejects.
Result<std::uint32_t> vbd_number(std::string_view vdev);
// Back to a DISKSPEC string (named form, target last).
std::string to_disk_spec(const DiskSpec& spec);

}  // namespace domus::config
