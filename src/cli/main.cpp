// domus: the command-line front end. Each verb lives in its own cmd_<verb>.cpp.
#include <CLI/CLI.hpp>

#include <string_view>

#include "base/log.hpp"
#include "cli/commands.hpp"
#include "monitor/domain_exit.hpp"

namespace {

// Every verb but `run`.
void add_other_commands(CLI::App& app, int& status) {
    domus::cli::add_create_command(app, status);
    domus::cli::add_list_command(app, status);
    domus::cli::add_console_command(app, status);
    domus::cli::add_lifecycle_commands(app, status);
    domus::cli::add_query_commands(app, status);
    domus::cli::add_image_command(app, status);
    domus::cli::add_block_commands(app, status);
    domus::cli::add_network_commands(app, status);
    domus::cli::add_rate_commands(app, status);
    domus::cli::add_snapshot_command(app, status);
    domus::cli::add_sched_commands(app, status);
    domus::cli::add_top_command(app, status);
    domus::cli::add_vcpu_set_command(app, status);
    domus::cli::add_memory_commands(app, status);
    domus::cli::add_save_command(app, status);
    domus::cli::add_restore_command(app, status);
    domus::cli::add_migrate_command(app, status);
    domus::cli::add_migrate_receive_command(app, status);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"Domus: a paravirtualizing hypervisor on KVM"};
    app.require_subcommand(1);
    std::string log_level = "info";
    app.add_option("--log-level", log_level, "debug, info, warn or error")
        ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
    int status = 0;
    domus::cli::add_run_command(app, status);
    // `domus run` is a domain's start: it builds its own verb only (all of them cost
    // ~0.2 ms of CLI11 set-up, a tenth of a boot; docs/architecture.md).
    if (argc < 2 || std::string_view(argv[1]) != "run") add_other_commands(app, status);
    app.parse_complete_callback([&] {
        using domus::log::Level;
        Level level = log_level == "debug"   ? Level::debug
                      : log_level == "warn"  ? Level::warn
                      : log_level == "error" ? Level::error
                                             : Level::info;
        domus::log::Config::instance().level.store(level);
    });
    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& error) {
        int code = app.exit(error);
        return code == 0 ? 0 : domus::monitor::kStatusMonitorError;
    }
    return status;
}
