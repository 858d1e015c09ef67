// The host side of a vif, set up as Xen's vif-bridge, vif-route and vif-nat hotplug
// scripts do, with the host's own tools (iproute2, nftables) run by domusd once the
// monitor has made the vif's TAP:
//   vif-bridge  the TAP joins `bridge` (which must exist).
//   vif-route   the TAP borrows gatewaydev's IPv4 address (/32), answers ARP for the
//               host (proxy ARP), and each guest address is routed to it; forwarding on.
//   vif-nat     the TAP is the guest subnet's gateway (its first free address), and
//               packets from the subnet leaving by any other interface are masqueraded
//               (an nftables table of the vif's own, `ip domus-<ifname>`); forwarding on.
// Going offline undoes what the TAP's removal does not (the nftables table).
#pragma once

#include <string>
#include <vector>

#include "base/result.hpp"
#include "config/vif_config.hpp"

namespace domus::toolstack {

struct Command {
    std::vector<std::string> argv;
    std::string input;  // its stdin (an nftables ruleset)
    bool operator==(const Command&) const = default;
};

// What the host needs to know to set a vif up: gatewaydev's address for vif-route.
struct HostAddresses {
    std::string gateway_ipv4;  // A.B.C.D, empty when gatewaydev has none
};

// The commands for `config`, in order (pure: the tests read them).
Result<std::vector<Command>> vif_online_commands(const config::VifConfig& config,
                                                 const HostAddresses& host);
std::vector<Command> vif_offline_commands(const config::VifConfig& config);

// Runs the online commands (and the sysctls the mode needs); the first failure stops it
// and says which command failed and what the tool said. `gatewaydev` is looked up here.
Result<void> vif_online(const config::VifConfig& config);
// Best effort: what is already gone is not an error.
void vif_offline(const config::VifConfig& config);

// The vif-nat gateway for guest address `ip` (A.B.C.D[/LEN], /24 when no length): the
// subnet's first host address, or its second when the guest has the first. "R/LEN".
Result<std::string> nat_gateway(const std::string& ip);

}  // namespace domus::toolstack
