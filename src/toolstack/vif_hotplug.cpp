// Running the vif hotplug scripts (see vif_hotplug.hpp): their path, environment and
// command line.
#include "toolstack/vif_hotplug.hpp"

#include <cstdlib>

#include "base/log.hpp"
#include "toolstack/spawn.hpp"

namespace domus::toolstack {
namespace {

constexpr std::chrono::seconds kScriptTimeout{30};

std::string last_line(std::string text) {
    while (!text.empty() && text.back() == '\n')
        text.pop_back();
    auto newline = text.rfind('\n');
    return newline == std::string::npos ? text : text.substr(newline + 1);
}

}  // namespace

std::string hotplug_script(const config::VifConfig& config, const std::string& script_dir) {
    if (!config.script_path.empty()) return config.script_path;
    return script_dir + "/" + std::string(config::vif_script_name(config.script));
}

std::vector<std::string> hotplug_environment(const config::VifConfig& config, std::uint32_t domid,
                                             const HotplugPaths& paths) {
    std::vector<std::string> environment = {
        "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
        "vif=" + config.ifname,
        "XENBUS_PATH=/local/domain/0/backend/vif/" + std::to_string(domid) + "/" +
            std::to_string(config.devid),
        "script=" + hotplug_script(config, paths.script_dir),
        "mac=" + config::format_mac(config.mac),
        "DOMUS_RUN_DIR=" + paths.run_dir,
        // Where xenstore-read finds Domus's store, for what a script reads from it.
        "XENSTORED_PATH=" + paths.run_dir + "/xenstored/socket",
    };
    std::string ips;
    for (const auto& ip : config.ips)
        ips += (ips.empty() ? "" : " ") + ip;
    if (!ips.empty()) environment.push_back("ip=" + ips);
    if (config.script == config::VifScript::bridge)
        environment.push_back("bridge=" + config.bridge);
    if (!config.gatewaydev.empty()) environment.push_back("netdev=" + config.gatewaydev);
    return environment;
}

std::vector<std::string> hotplug_argv(const config::VifConfig& config, std::uint32_t domid,
                                      HotplugCommand command, const HotplugPaths& paths) {
    std::vector<std::string> argv = {"env", "-i"};
    for (auto& variable : hotplug_environment(config, domid, paths))
        argv.push_back(std::move(variable));
    argv.push_back(hotplug_script(config, paths.script_dir));
    argv.push_back(command == HotplugCommand::online ? "online" : "offline");
    return argv;
}

std::string default_hotplug_dir() {
    if (const char* dir = std::getenv("DOMUS_HOTPLUG_DIR"); dir && *dir) return dir;
    return executable_dir() + "/../libexec/domus/hotplug";
}

Result<void> vif_online(const config::VifConfig& config, std::uint32_t domid,
                        const std::string& run_dir) {
    HotplugPaths paths{default_hotplug_dir(), run_dir};
    auto done =
        run_tool(hotplug_argv(config, domid, HotplugCommand::online, paths), "", kScriptTimeout);
    if (!done) {
        // run_tool's message ends with what the script said; its last line is the reason.
        const std::string& message = done.error().message;
        auto said = message.find("): ");
        return make_error(
            "{} online {}: {}", hotplug_script(config, paths.script_dir), config.ifname,
            said == std::string::npos ? message : last_line(message.substr(said + 3)));
    }
    DOMUS_LOG_INFO("vif", "{}: {} online", config.ifname, config::vif_script_name(config.script));
    return {};
}

void vif_offline(const config::VifConfig& config, std::uint32_t domid, const std::string& run_dir) {
    HotplugPaths paths{default_hotplug_dir(), run_dir};
    if (auto done = run_tool(hotplug_argv(config, domid, HotplugCommand::offline, paths), "",
                             kScriptTimeout);
        !done)
        DOMUS_LOG_WARN("vif", "{} offline: {}", config.ifname, done.error().message);
}

}  // namespace domus::toolstack
