// vif-bridge, vif-route and vif-nat (see vif_hotplug.hpp) over iproute2 and nftables.
#include "toolstack/vif_hotplug.hpp"

#include <arpa/inet.h>

#include <fstream>

#include "base/log.hpp"
#include "toolstack/spawn.hpp"

namespace domus::toolstack {
namespace {

// "A.B.C.D[/LEN]" -> address and prefix length (32 when none).
Result<std::pair<std::uint32_t, unsigned>> parse_cidr(const std::string& text,
                                                      unsigned default_length) {
    auto slash = text.find('/');
    in_addr address{};
    if (::inet_pton(AF_INET, text.substr(0, slash).c_str(), &address) != 1)
        return make_error("\"{}\" is not an IPv4 address", text);
    unsigned length = default_length;
    if (slash != std::string::npos) {
        try {
            length = unsigned(std::stoul(text.substr(slash + 1)));
        } catch (const std::exception&) {
            return make_error("\"{}\" has no prefix length after /", text);
        }
        if (length > 32) return make_error("\"{}\": a prefix is at most 32 bits", text);
    }
    return std::pair{ntohl(address.s_addr), length};
}

std::string dotted(std::uint32_t address) {
    in_addr a{htonl(address)};
    char text[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &a, text, sizeof text);
    return text;
}

std::string table_name(const config::VifConfig& config) {
    return "domus-" + config.ifname;
}

bool write_sysctl(const std::string& path, const char* value) {
    std::ofstream out(path);
    out << value;
    return bool(out.flush());
}

// The first IPv4 address of `device` ("inet A.B.C.D/LEN" in `ip -4 -o addr show`).
std::string first_ipv4(const std::string& device) {
    auto shown = run_tool({"ip", "-4", "-o", "addr", "show", "dev", device});
    if (!shown) return {};
    auto at = shown->find(" inet ");
    if (at == std::string::npos) return {};
    auto start = at + 6;
    auto end = shown->find_first_of("/ ", start);
    return shown->substr(start, end - start);
}

}  // namespace

Result<std::string> nat_gateway(const std::string& ip) {
    DOMUS_TRY(cidr, parse_cidr(ip, 24));
    auto [address, length] = cidr;
    if (length > 30)
        return make_error("vif-nat: {} leaves no room for a gateway (at most /30)", ip);
    std::uint32_t mask = length == 0 ? 0 : ~std::uint32_t(0) << (32 - length);
    std::uint32_t network = address & mask;
    std::uint32_t gateway = network + 1 == address ? network + 2 : network + 1;
    return dotted(gateway) + "/" + std::to_string(length);
}

Result<std::vector<Command>> vif_online_commands(const config::VifConfig& config,
                                                 const HostAddresses& host) {
    const std::string& vif = config.ifname;
    std::vector<Command> commands;
    switch (config.script) {
        case config::VifScript::bridge:
            commands.push_back({{"ip", "link", "set", "dev", vif, "master", config.bridge}, {}});
            break;
        case config::VifScript::route: {
            if (host.gateway_ipv4.empty())
                return make_error(
                    "vif-route: {} has no IPv4 address for {} to borrow (gatewaydev={})",
                    config.gatewaydev.empty() ? "the host" : config.gatewaydev, vif,
                    config.gatewaydev.empty() ? "?" : config.gatewaydev);
            commands.push_back({{"ip", "addr", "add", host.gateway_ipv4 + "/32", "dev", vif}, {}});
            for (const auto& ip : config.ips) {
                DOMUS_TRY(cidr, parse_cidr(ip, 32));
                commands.push_back({{"ip", "route", "add", dotted(cidr.first) + "/32", "dev", vif,
                                     "src", host.gateway_ipv4},
                                    {}});
            }
            break;
        }
        case config::VifScript::nat: {
            if (config.ips.empty()) return make_error("vif-nat: {} has no ip=", vif);
            DOMUS_TRY(gateway, nat_gateway(config.ips.front()));
            DOMUS_TRY(cidr, parse_cidr(config.ips.front(), 24));
            auto [address, length] = cidr;
            std::uint32_t mask = length == 0 ? 0 : ~std::uint32_t(0) << (32 - length);
            std::string subnet = dotted(address & mask) + "/" + std::to_string(length);
            commands.push_back({{"ip", "addr", "add", gateway, "dev", vif}, {}});
            std::string rules = "table ip " + table_name(config) +
                                " {\n chain postrouting {\n  type nat hook postrouting priority "
                                "srcnat; policy accept;\n  ip saddr " +
                                subnet + " oifname != \"" + vif + "\" masquerade\n }\n}\n";
            commands.push_back({{"nft", "-f", "-"}, rules});
            break;
        }
    }
    return commands;
}

std::vector<Command> vif_offline_commands(const config::VifConfig& config) {
    if (config.script != config::VifScript::nat) return {};  // gone with the interface
    return {{{"nft", "delete", "table", "ip", table_name(config)}, {}}};
}

Result<void> vif_online(const config::VifConfig& config) {
    HostAddresses host;
    if (config.script == config::VifScript::route)
        host.gateway_ipv4 = first_ipv4(config.gatewaydev.empty() ? "eth0" : config.gatewaydev);
    DOMUS_TRY(commands, vif_online_commands(config, host));
    std::string script(config::vif_script_name(config.script));
    if (config.script == config::VifScript::bridge) {
        // Say plainly what is missing rather than ip's "Cannot find device".
        if (!run_tool({"ip", "link", "show", "dev", config.bridge}))
            return make_error("{}: bridge \"{}\" does not exist (ip link add {} type bridge)",
                              script, config.bridge, config.bridge);
    } else {
        // Routing and NAT forward the guest's packets; route answers ARP for the host.
        std::string conf = "/proc/sys/net/ipv4/conf/" + config.ifname;
        if (!write_sysctl("/proc/sys/net/ipv4/ip_forward", "1") ||
            (config.script == config::VifScript::route && !write_sysctl(conf + "/proxy_arp", "1")))
            return make_error("{}: cannot turn on forwarding for {}", script, config.ifname);
    }
    for (const auto& command : commands) {
        if (auto done = run_tool(command.argv, command.input); !done)
            return make_error("{} {}: {}", script, config.ifname, done.error().message);
    }
    DOMUS_LOG_INFO("vif", "{}: {} online", config.ifname, script);
    return {};
}

void vif_offline(const config::VifConfig& config) {
    for (const auto& command : vif_offline_commands(config))
        if (auto done = run_tool(command.argv, command.input); !done)
            DOMUS_LOG_DEBUG("vif", "{}: {}", config.ifname, done.error().message);
}

}  // namespace domus::toolstack
