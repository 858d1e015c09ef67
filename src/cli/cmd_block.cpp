// `domus block-attach DOMAIN DISKSPEC`, `domus block-detach DOMAIN VDEV [--force]
// [--timeout S]`, `domus block-list DOMAIN [--json]`: PV disks of a running domain, as
// xl's verbs of the same names.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"

namespace domus::cli {
namespace {

struct BlockOptions {
    std::string domain;
    std::string argument;  // DISKSPEC or VDEV
    bool force = false;
    double timeout_s = 10;
    bool json = false;
};

void print_list(const nlohmann::json& rows) {
    std::printf("%-8s %-6s %-3s %-7s %-6s %-6s %-8s %s\n", "Vdev", "Name", "BE", "handle", "state",
                "evt-ch", "ring-ref", "BE-path");
    for (const auto& row : rows)
        std::printf("%-8s %-6s %-3d %-7s %-6ld %-6ld %-8ld %s\n",
                    row["devid"].get<std::string>().c_str(), row["vdev"].get<std::string>().c_str(),
                    row["backend_id"].get<int>(), row["devid"].get<std::string>().c_str(),
                    row["state"].get<long>(), row["event_channel"].get<long>(),
                    row["ring_ref"].get<long>(), row["backend_path"].get<std::string>().c_str());
}

}  // namespace

void add_block_commands(CLI::App& app, int& status) {
    auto attach = std::make_shared<BlockOptions>();
    auto* command = app.add_subcommand("block-attach", "Add a PV disk to a running domain");
    command->add_option("domain", attach->domain, "Domain name or ID")->required();
    command->add_option("disk", attach->argument, "xl DISKSPEC, e.g. /img/d.qcow2,qcow2,xvdb,w")
        ->required();
    command->callback([attach, &status] {
        auto reply = daemon_request(
            {{"op", "block-attach"}, {"domain", attach->domain}, {"disk", attach->argument}});
        status = reply ? 0 : fail(reply.error());
    });

    auto detach = std::make_shared<BlockOptions>();
    command = app.add_subcommand("block-detach", "Remove a PV disk from a running domain");
    command->add_option("domain", detach->domain, "Domain name or ID")->required();
    command->add_option("vdev", detach->argument, "The disk: xvdb, or its device number")
        ->required();
    command->add_flag("-f,--force", detach->force,
                      "Remove the disk even if the guest does not release it (its I/O fails)");
    command->add_option("--timeout", detach->timeout_s, "Seconds to wait for the guest")
        ->check(CLI::Range(0.0, 600.0));
    command->callback([detach, &status] {
        auto reply = daemon_request({{"op", "block-detach"},
                                     {"domain", detach->domain},
                                     {"vdev", detach->argument},
                                     {"force", detach->force},
                                     {"timeout_ms", std::int64_t(detach->timeout_s * 1000)}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (reply->value("forced", false))
            std::fprintf(stderr, "domus: the guest did not release %s; removed by force\n",
                         detach->argument.c_str());
        status = 0;
    });

    auto list = std::make_shared<BlockOptions>();
    command = app.add_subcommand("block-list", "List a domain's PV disks");
    command->add_option("domain", list->domain, "Domain name or ID")->required();
    command->add_flag("--json", list->json, "Machine-readable output");
    command->callback([list, &status] {
        auto reply = daemon_request({{"op", "block-list"}, {"domain", list->domain}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        if (list->json)
            std::printf("%s\n", (*reply)["disks"].dump(2).c_str());
        else
            print_list((*reply)["disks"]);
        status = 0;
    });
}

}  // namespace domus::cli
