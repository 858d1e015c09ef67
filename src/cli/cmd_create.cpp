// `domus create FILE.cfg [-c] [key=value ...]`: parses the xl.cfg here (errors name the
// file, line and key), resolves a relative kernel path against the current directory,
// and asks domusd to create the domain; -c then attaches its console.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <climits>
#include <cstdio>

#include "cli/cmd_console.hpp"
#include "cli/daemon_connection.hpp"
#include "config/disk_spec.hpp"
#include "toolstack/xl_config.hpp"

namespace domus::cli {

void add_create_command(CLI::App& app, int& status) {
    struct Options {
        std::string file;
        std::vector<std::string> overrides;
        bool console = false;
    };
    auto options = std::make_shared<Options>();
    auto* command = app.add_subcommand("create", "Create a domain from an xl.cfg file");
    command->add_option("config", options->file, "xl.cfg file")->required();
    command->add_option("overrides", options->overrides,
                        "key=value settings that override the file");
    command->add_flag("-c", options->console, "Attach to the console once created");
    command->callback([options, &status] {
        auto parsed = toolstack::load_xl_config(options->file, options->overrides);
        if (!parsed) {
            status = fail(parsed.error());
            return;
        }
        for (const auto& warning : parsed->warnings)
            std::fprintf(stderr, "domus: warning: %s\n", warning.c_str());
        char cwd[PATH_MAX];
        if (!::getcwd(cwd, sizeof(cwd))) cwd[0] = 0;
        toolstack::DomainSpec spec = parsed->spec;
        spec.kernel = toolstack::resolve_kernel_path(spec, cwd);
        for (auto& disk : spec.disk) {
            auto parsed = config::parse_disk_spec(disk);
            if (!parsed) {
                status = fail(make_error("{}: disk: {}", options->file, parsed.error().message));
                return;
            }
            if (!parsed->target.empty() && parsed->target[0] != '/')
                parsed->target = std::string(cwd) + "/" + parsed->target;
            disk = config::to_disk_spec(*parsed);
        }
        if (::access(spec.kernel.c_str(), R_OK) != 0) {
            status = fail(make_error("{}: kernel: cannot read {}", options->file, spec.kernel));
            return;
        }
        auto reply = daemon_request(
            {{"op", "create"}, {"config", toolstack::to_xl_config(spec)}, {"file", options->file}});
        if (!reply) {
            status = fail(reply.error());
            return;
        }
        std::printf("Created domain %s (id %d)\n", spec.name.c_str(), (*reply)["domid"].get<int>());
        std::fflush(stdout);
        status = 0;
        if (options->console) {
            auto control = daemon_request({{"op", "console"}, {"domain", spec.name}});
            status = control ? attach_console((*control)["control"]) : fail(control.error());
        }
    });
}

}  // namespace domus::cli
