// VifSpec: one xl VIFSPEC string (`vif = [ '...' ]` in xl.cfg, `--vif` on the CLI): a PV
// network interface and how the host side joins it to a network. Comma-separated
// key=value items in any order (xl-network-configuration(5)):
//   mac=XX:XX:XX:XX:XX:XX  unicast; none: the toolstack picks one under Xen's 00:16:3e
//   bridge=NAME            the bridge vif-bridge adds the interface to (default domusbr0,
//                          which the script creates when missing; any other must exist)
//   ip=ADDR[/LEN] ...      the guest's addresses (space-separated); vif-route and vif-nat
//                          need one; the guest uses the first unless DHCP is asked for
//   script=vif-bridge|vif-route|vif-nat   the hotplug script that sets the host side
//                          up (scripts/hotplug/; /etc/xen/scripts/vif-* names them too);
//                          any other absolute path runs that script instead (an
//                          administrator's copy), checked as the mode its name says
//                          (vif-route, vif-nat) or else as vif-bridge
//   gatewaydev=DEV         vif-route/vif-nat: the host's outward interface
//   vifname=NAME           the host interface's name (default vif<domid>.<devid>)
//   mtu=N                  68..65535, default 1500
//   type=vif               the only type (no emulated NICs); ioemu is refused
//   devid=N                the device number (default: its place in the list)
//   backend=0|Domain-0     no driver domains yet
//   rate=RATE/s[@INTERVAL] the most the guest may send (config/rate_spec.hpp), as
//                          10Mb/s@20ms; netback holds what goes over (not dropped)
// `model=` is refused with a message saying why.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "config/rate_spec.hpp"

namespace domus::config {

enum class VifScript { bridge, route, nat };

using MacAddress = std::array<std::uint8_t, 6>;

struct VifSpec {
    std::optional<MacAddress> mac;
    std::string bridge = "domusbr0";
    std::vector<std::string> ips;  // each A.B.C.D or A.B.C.D/LEN, checked
    VifScript script = VifScript::bridge;
    std::string script_path;  // script=/ABSOLUTE/PATH: run it instead of the bundled one
    std::string gatewaydev;
    std::string vifname;
    std::uint32_t mtu = 1500;
    std::optional<std::uint32_t> devid;
    std::optional<VifRate> rate;

    bool operator==(const VifSpec&) const = default;
};

// Every error names the offending string and key: `vif "...": mac: ...`.
Result<VifSpec> parse_vif_spec(std::string_view text);
// A domain's whole list: devids given or by position, unique; MACs and names unique.
Result<std::vector<VifSpec>> parse_vif_specs(const std::vector<std::string>& texts);
// Back to a VIFSPEC string (every key that differs from its default, mac always when set).
std::string to_vif_spec(const VifSpec& spec);

std::string_view vif_script_name(VifScript script);  // "vif-bridge", ...
std::string format_mac(const MacAddress& mac);       // "00:16:3e:01:02:03"
Result<MacAddress> parse_mac(std::string_view text);

}  // namespace domus::config
