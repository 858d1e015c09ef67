// `domus migrate [-s CMD] [--warm|--live|--cold] [--json] DOMAIN HOST`, as xl's: the
// stream goes through `ssh HOST domus migrate-receive` (-s CMD replaces ssh, as xl's -s;
// with -s "" HOST itself is the command). --copy-disks sends the disk files too
// (toolstack/disk_copy.hpp), the domain suspended. Live (the default) copies memory while the
// guest runs and suspends it for the last round; --warm suspends it first; --cold shuts
// it down and starts it afresh there. The source goes only once the destination says its
// copy runs; any failure leaves it running here (cold: started here again), and the
// command exits non-zero naming the cause. Progress: a line on a terminal, JSON events
// with --json (progress_line.hpp).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/daemon_connection.hpp"
#include "cli/progress_line.hpp"

namespace domus::cli {

void add_migrate_command(CLI::App& app, int& status) {
    struct Options {
        std::string domain, host;
        std::optional<std::string> transport;
        bool warm = false, live = false, cold = false, json = false, copy_disks = false;
        std::string disk_dir;
        std::uint64_t max_downtime_ms = 300, rate_mb = 0;
        std::uint32_t max_rounds = 30;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("migrate", "Move a domain to another host");
    command->add_option("domain", options->domain, "Domain name or ID")->required();
    command->add_option("host", options->host, "Destination host")->required();
    command->add_option("-s", options->transport,
                        "Use this command instead of ssh (with \"\": HOST is the command)");
    command->add_flag("--warm", options->warm, "Suspend, move the state, resume there");
    command->add_flag("--live", options->live, "Pre-copy while the domain runs (the default)");
    command->add_flag("--cold", options->cold, "Shut down here, start there");
    command->add_flag("--json", options->json, "Print progress and the result as JSON events");
    command->add_option("--max-downtime", options->max_downtime_ms,
                        "Live: the downtime to aim at, in ms (default 300)");
    command->add_option("--rate", options->rate_mb, "Bandwidth limit in MB/s (default none)");
    command->add_option("--max-rounds", options->max_rounds,
                        "Live: pre-copy rounds at most (default 30)");
    command->add_flag("--copy-disks", options->copy_disks,
                      "No shared storage: copy the disk files (and backing chains) along; "
                      "the domain is suspended meanwhile (warm)");
    command->add_option("--disk-dir", options->disk_dir,
                        "--copy-disks: the destination's directory for the copies "
                        "(default: the same paths as here)");
    command->callback([options, &status] {
        std::string transport;
        if (options->transport && options->transport->empty())
            transport = options->host;
        else
            transport =
                options->transport.value_or("ssh") + " " + options->host + " domus migrate-receive";
        if (options->cold) transport += " --cold";
        if (!options->disk_dir.empty() && options->disk_dir[0] != '/') {
            status = fail(make_error("--disk-dir must be an absolute path"));
            return;
        }
        if (options->copy_disks)
            transport +=
                " --copy-disks" +
                (options->disk_dir.empty() ? "" : " --disk-dir '" + options->disk_dir + "'");
        if (int(options->warm) + int(options->live) + int(options->cold) > 1) {
            status = fail(make_error("--live, --warm and --cold exclude each other"));
            return;
        }
        const char* mode = options->cold ? "cold" : options->warm ? "warm" : "live";
        auto progress = ProgressOutput::choose(options->json);
        auto reply = daemon_request({{"op", "migrate"},
                                     {"domain", options->domain},
                                     {"command", transport},
                                     {"mode", mode},
                                     {"max_downtime_ms", options->max_downtime_ms},
                                     {"max_rounds", options->max_rounds},
                                     {"rate_bytes_per_second", options->rate_mb * 1000 * 1000},
                                     {"copy_disks", options->copy_disks}},
                                    progress.handler());
        progress.finish();
        if (!reply) {
            if (options->json) progress.show(failed_event(reply.error().message));
            status = fail(reply.error());
            return;
        }
        if (options->json) {
            progress.show(done_event(*reply));
        } else {
            double mib = double((*reply)["bytes"].get<std::uint64_t>()) / (1 << 20);
            std::printf("Migrated %s (%s): %.1f MiB in %llu ms, %u rounds, downtime %llu ms\n",
                        options->domain.c_str(), (*reply).value("mode", mode).c_str(), mib,
                        (unsigned long long)(*reply)["total_ms"].get<std::uint64_t>(),
                        (*reply).value("rounds", 0u),
                        (unsigned long long)(*reply)["downtime_ms"].get<std::uint64_t>());
        }
        status = 0;
    });
}

}  // namespace domus::cli
