// `domus network-attach DOMAIN VIFSPEC`, `domus network-detach DOMAIN DEVID|MAC [--force]
// [--timeout S]`, `domus network-list DOMAIN [--json]`: vifs of a running domain, as xl's
// verbs of the same names.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"
#include "cli/device_verbs.hpp"

namespace domus::cli {
namespace {

struct NetworkOptions {
    std::string domain;
    std::string argument;  // VIFSPEC
};

void print_list(const nlohmann::json& rows) {
    // xl network-list's columns, and the host interface.
    std::printf("%-4s %-3s %-18s %-6s %-6s %-6s %-12s %-10s %s\n", "Idx", "BE", "Mac Addr.",
                "handle", "state", "evt-ch", "tx-/rx-ring", "ifname", "BE-path");
    for (const auto& row : rows) {
        std::string rings = std::to_string(row["tx_ring_ref"].get<long>()) + "/" +
                            std::to_string(row["rx_ring_ref"].get<long>());
        std::printf("%-4s %-3d %-18s %-6s %-6ld %-6ld %-12s %-10s %s\n",
                    row["devid"].get<std::string>().c_str(), row["backend_id"].get<int>(),
                    row["mac"].get<std::string>().c_str(), row["devid"].get<std::string>().c_str(),
                    row["state"].get<long>(), row["event_channel"].get<long>(), rings.c_str(),
                    row["ifname"].get<std::string>().c_str(),
                    row["backend_path"].get<std::string>().c_str());
    }
}

}  // namespace

void add_network_commands(CLI::App& app, int& status) {
    auto attach = std::make_shared<NetworkOptions>();
    auto* command = app.add_subcommand("network-attach", "Add a vif to a running domain");
    command->add_option("domain", attach->domain, "Domain name or ID")->required();
    command->add_option("vif", attach->argument, "xl VIFSPEC, e.g. bridge=domusbr0,ip=10.0.0.2")
        ->required();
    command->callback([attach, &status] {
        auto reply = daemon_request(
            {{"op", "network-attach"}, {"domain", attach->domain}, {"vif", attach->argument}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("%s\n", (*reply)["ifname"].get<std::string>().c_str());
        status = 0;
    });

    add_detach_verb(
        app, status,
        {"network", "a vif", "vif", "The vif: its devid or its MAC", "vif ", "vifs", print_list});
    add_list_verb(app, status, {"network", "a vif", "vif", "", "", "vifs", print_list});
}

}  // namespace domus::cli
