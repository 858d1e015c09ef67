// `domus network-attach DOMAIN VIFSPEC`, `domus network-detach DOMAIN DEVID|MAC [--force]
// [--timeout S]`, `domus network-list DOMAIN [--json]`: vifs of a running domain, as xl's
// verbs of the same names.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"

namespace domus::cli {
namespace {

struct NetworkOptions {
    std::string domain;
    std::string argument;  // VIFSPEC, or DEVID|MAC
    bool force = false;
    double timeout_s = 10;
    bool json = false;
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

    auto detach = std::make_shared<NetworkOptions>();
    command = app.add_subcommand("network-detach", "Remove a vif from a running domain");
    command->add_option("domain", detach->domain, "Domain name or ID")->required();
    command->add_option("vif", detach->argument, "The vif: its devid or its MAC")->required();
    command->add_flag("-f,--force", detach->force,
                      "Remove the vif even if the guest does not release it");
    command->add_option("--timeout", detach->timeout_s, "Seconds to wait for the guest")
        ->check(CLI::Range(0.0, 600.0));
    command->callback([detach, &status] {
        auto reply = daemon_request({{"op", "network-detach"},
                                     {"domain", detach->domain},
                                     {"vif", detach->argument},
                                     {"force", detach->force},
                                     {"timeout_ms", std::int64_t(detach->timeout_s * 1000)}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (reply->value("forced", false))
            std::fprintf(stderr, "domus: the guest did not release vif %s; removed by force\n",
                         detach->argument.c_str());
        status = 0;
    });

    auto list = std::make_shared<NetworkOptions>();
    command = app.add_subcommand("network-list", "List a domain's vifs");
    command->add_option("domain", list->domain, "Domain name or ID")->required();
    command->add_flag("--json", list->json, "Machine-readable output");
    command->callback([list, &status] {
        auto reply = daemon_request({{"op", "network-list"}, {"domain", list->domain}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (list->json)
            std::printf("%s\n", (*reply)["vifs"].dump(2).c_str());
        else
            print_list((*reply)["vifs"]);
        status = 0;
    });
}

}  // namespace domus::cli
