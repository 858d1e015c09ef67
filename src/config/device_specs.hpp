// From xl's device strings (DISKSPEC, CHANNEL_SPEC_STRING) to the device lists of a
// DomainConfig: the one translation `domus run` and domus-vmm (given the strings by domusd) share.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "config/channel_spec.hpp"
#include "config/disk_spec.hpp"
#include "config/domain_config.hpp"
#include "config/vif_spec.hpp"

namespace domus::config {

// One parsed DISKSPEC as a PV block device.
VbdConfig vbd_config(const DiskSpec& spec);
// Parsed channels as secondary consoles device/console/<first_devid>.. in order (0 is the
// primary console).
std::vector<ChannelConfig> channel_configs(const std::vector<ChannelSpec>& specs,
                                           std::uint32_t first_devid = 1);

// One parsed VIFSPEC as a PV network interface of domain `domid`: a MAC under Xen's
// 00:16:3e when none was given (random), the host interface vif<domid>.<devid> unless
// named.
VifConfig vif_config(const VifSpec& spec, std::uint16_t domid);

// Parses `disks`, `channels` and `vifs` and appends them to `config.disks`,
// `config.channels` and `config.vifs` (for domain `config.domid`). On an error (which
// names the offending string and key) `config` is unchanged.
Result<void> add_devices(DomainConfig& config, const std::vector<std::string>& disks,
                         const std::vector<std::string>& channels,
                         const std::vector<std::string>& vifs = {});

}  // namespace domus::config
