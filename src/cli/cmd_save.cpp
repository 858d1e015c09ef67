// `domus save [-c|-p] [--json] DOMAIN FILE`, as xl's: the guest suspends, its image goes
// into FILE (docs/migration-stream.md) and the domain is destroyed; -c leaves it running,
// -p leaves it paused (suspended: `domus unpause` lets it go on). Progress: a line on a
// terminal, JSON events with --json (progress_line.hpp).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/daemon_connection.hpp"
#include "cli/progress_line.hpp"

namespace domus::cli {

void add_save_command(CLI::App& app, int& status) {
    struct Options {
        std::string domain, file;
        bool keep = false, paused = false, json = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("save", "Save a domain's state into a file");
    command->add_option("domain", options->domain, "Domain name or ID")->required();
    command->add_option("file", options->file, "The image to write")->required();
    command->add_flag("-c", options->keep, "Leave the domain running after saving it");
    command->add_flag("-p", options->paused, "Leave the domain paused after saving it");
    command->add_flag("--json", options->json, "Print progress and the result as JSON events");
    command->callback([options, &status] {
        std::string file = options->file;
        if (!file.empty() && file[0] != '/') {
            char cwd[PATH_MAX];
            if (::getcwd(cwd, sizeof(cwd))) file = std::string(cwd) + "/" + file;
        }
        auto progress = ProgressOutput::choose(options->json);
        auto reply = daemon_request({{"op", "save"},
                                     {"domain", options->domain},
                                     {"file", file},
                                     {"checkpoint", options->keep},
                                     {"keep_paused", options->paused}},
                                    progress.handler());
        progress.finish();
        if (!reply) {
            if (options->json) progress.show(failed_event(reply.error().message));
            status = fail(reply.error());
            return;
        }
        if (options->json) {
            progress.show(done_event(*reply));
            status = 0;
            return;
        }
        double mib = double((*reply)["bytes"].get<std::uint64_t>()) / (1 << 20);
        double ms = double((*reply)["total_ms"].get<std::uint64_t>());
        std::printf(
            "Saved %s: %.1f MiB (%llu pages, %llu zero pages skipped) in %.0f ms "
            "(%.0f MiB/s)\n",
            options->domain.c_str(), mib,
            (unsigned long long)(*reply)["pages"].get<std::uint64_t>(),
            (unsigned long long)(*reply)["zero_pages"].get<std::uint64_t>(), ms,
            ms > 0 ? mib * 1000 / ms : 0.0);
        status = 0;
    });
}

}  // namespace domus::cli
