// VifConfig: one PV network interface as the monitor is asked to provide it (a VifSpec
// with its MAC and host interface name settled).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/vif_spec.hpp"

namespace domus::config {

struct VifConfig {
    std::uint32_t devid = 0;  // device/vif/<devid>
    MacAddress mac{};
    std::string ifname;  // the host interface (TAP): vif<domid>.<devid> unless named
    VifScript script = VifScript::bridge;
    std::string script_path;  // an administrator's own script; empty: the bundled one
    std::string bridge;
    std::vector<std::string> ips;
    std::string gatewaydev;
    std::uint32_t mtu = 1500;
    std::optional<VifRate> rate;  // none: unlimited
};

}  // namespace domus::config
