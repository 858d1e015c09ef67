// The daemon's bookkeeping for vif hot-plug (network-attach, network-detach), pure so
// the tests read it: a new VIFSPEC settled against a domain's vifs, and a vif found by
// its devid or MAC.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "config/vif_spec.hpp"

namespace domus::toolstack {

// `text` made ready to attach next to `vifs` (the domain's VIFSPECs): its devid the
// lowest free one unless given, its MAC settled (Xen's 00:16:3e, random) unless given;
// a devid, MAC or vifname already in use is refused. The result is what the domain's
// configuration records.
Result<config::VifSpec> settle_new_vif(const std::vector<std::string>& vifs,
                                       const std::string& text, std::uint16_t domid);

// The index in `vifs` of the vif whose devid or MAC (any case) is `key`.
Result<std::size_t> find_vif(const std::vector<std::string>& vifs, const std::string& key);

}  // namespace domus::toolstack
