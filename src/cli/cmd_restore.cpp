// `domus restore [-p] [--json] FILE [key=value ...]`, as xl's: the image is checked whole (a
// corrupt or truncated one is refused before anything starts), then the domain is made
// from it and goes on where it was saved; -p leaves it paused. key=value lines override
// the saved configuration (e.g. a disk's new path).
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdio>

#include "cli/commands.hpp"
#include "cli/daemon_connection.hpp"
#include "cli/progress_line.hpp"

namespace domus::cli {

void add_restore_command(CLI::App& app, int& status) {
    struct Options {
        std::string file;
        std::vector<std::string> overrides;
        bool paused = false, json = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("restore", "Restore a domain from a saved image");
    command->add_option("file", options->file, "The saved image")->required();
    command->add_option("overrides", options->overrides,
                        "key=value settings that override the saved configuration");
    command->add_flag("-p", options->paused, "Leave the domain paused after restoring it");
    command->add_flag("--json", options->json, "Print progress and the result as JSON events");
    command->callback([options, &status] {
        std::string file = options->file;
        if (!file.empty() && file[0] != '/') {
            char cwd[PATH_MAX];
            if (::getcwd(cwd, sizeof(cwd))) file = std::string(cwd) + "/" + file;
        }
        auto progress = ProgressOutput::choose(options->json);
        auto reply = daemon_request({{"op", "restore"},
                                     {"file", file},
                                     {"overrides", options->overrides},
                                     {"paused", options->paused}},
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
        std::printf("Restored domain %s (id %d) in %llu ms%s\n",
                    (*reply)["name"].get<std::string>().c_str(), (*reply)["domid"].get<int>(),
                    (unsigned long long)(*reply)["total_ms"].get<std::uint64_t>(),
                    options->paused ? ", paused" : "");
        status = 0;
    });
}

}  // namespace domus::cli
