// The host side of a vif, set up by Xen-style hotplug scripts (scripts/hotplug/:
// vif-bridge, vif-route, vif-nat), which domusd runs once the monitor has made the vif's
// TAP, with Xen's command (`online`/`offline`) and environment (vif, XENBUS_PATH, script,
// mac, ip, bridge, netdev...). What to run, and with what, is decided here (pure, tested);
// what the host is made to do is in the scripts, for an administrator to read and change.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "config/vif_config.hpp"

namespace domus::toolstack {

enum class HotplugCommand { online, offline };

struct HotplugPaths {
    std::string script_dir;  // where vif-bridge, vif-route and vif-nat are
    std::string run_dir;     // domusd's run directory (vif-nat's dnsmasq files go below it)
};

// The script for `config`: its own path (script=/...) or the bundled one in `script_dir`.
std::string hotplug_script(const config::VifConfig& config, const std::string& script_dir);
// The environment the script gets (and nothing else of domusd's): KEY=VALUE, as libxl
// sets it (vif, XENBUS_PATH, script, netdev), plus what Xen's scripts read from the store
// (mac, ip, bridge), so a script also runs without the store; XENSTORED_PATH lets
// xenstore-read reach Domus's store for the rest.
std::vector<std::string> hotplug_environment(const config::VifConfig& config, std::uint32_t domid,
                                             const HotplugPaths& paths);
// The whole command line: env -i ENVIRONMENT SCRIPT online|offline.
std::vector<std::string> hotplug_argv(const config::VifConfig& config, std::uint32_t domid,
                                      HotplugCommand command, const HotplugPaths& paths);

// Where the bundled scripts are: $DOMUS_HOTPLUG_DIR when set, else
// <the executable's directory>/../libexec/domus/hotplug (the build and install trees).
std::string default_hotplug_dir();

// Runs the script with `online`; its failure says which script and what it printed.
Result<void> vif_online(const config::VifConfig& config, std::uint32_t domid,
                        const std::string& run_dir);
// Runs it with `offline`; best effort (what is already gone is not an error).
void vif_offline(const config::VifConfig& config, std::uint32_t domid, const std::string& run_dir);

}  // namespace domus::toolstack
