// `domus block-attach DOMAIN DISKSPEC`, `domus block-detach DOMAIN VDEV [--force]
// [--timeout S]`, `domus block-list DOMAIN [--json]`: PV disks of a running domain, as
// xl's verbs of the same names.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"
#include "cli/device_verbs.hpp"

namespace domus::cli {
namespace {

struct BlockOptions {
    std::string domain;
    std::string argument;  // DISKSPEC
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

    add_detach_verb(app, status,
                    {"block", "a PV disk", "vdev", "The disk: xvdb, or its device number", "",
                     "disks", print_list});
    add_list_verb(app, status, {"block", "a PV disk", "vdev", "", "", "disks", print_list});
}

}  // namespace domus::cli
