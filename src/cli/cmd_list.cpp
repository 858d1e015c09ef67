// `domus list [--json]`: the domains as xl shows them (name, id, memory, vCPUs, state,
// CPU time), Domain-0 first; below, the progress of a save or migration running now.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/daemon_connection.hpp"
#include "cli/progress_line.hpp"
#include "toolstack/domain_stats.hpp"

namespace domus::cli {

void add_list_command(CLI::App& app, int& status) {
    auto json = std::make_shared<bool>(false);
    auto* command = app.add_subcommand("list", "List domains");
    command->add_flag("--json", *json, "Machine-readable output");
    command->callback([json, &status] {
        auto reply = daemon_request({{"op", "list"}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        const auto& rows = (*reply)["domains"];
        if (*json) {
            std::printf("%s\n", rows.dump(2).c_str());
        } else {
            std::printf("%-32s %5s %7s %5s %8s %10s\n", "Name", "ID", "Mem", "VCPUs", "State",
                        "Time(s)");
            for (const auto& row : rows)
                std::printf("%-32s %5d %7lu %5u %8s %10.1f\n",
                            row["name"].get<std::string>().c_str(), row["domid"].get<int>(),
                            row["memory_mib"].get<unsigned long>(), row["vcpus"].get<unsigned>(),
                            toolstack::state_columns(row["state"].get<std::string>()).c_str(),
                            row["cpu_seconds"].get<double>());
            // A save or migration running now, under the table (only then).
            for (const auto& row : rows)
                if (row.contains("progress"))
                    std::printf("%s\n", progress_line(row["progress"]).c_str());
        }
        status = 0;
    });
}

}  // namespace domus::cli
