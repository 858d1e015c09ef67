// Every `domus` verb registers itself on the app through one of these.
#pragma once

#include <CLI/CLI.hpp>

#include "cli/cmd_console.hpp"
#include "cli/cmd_run.hpp"

namespace domus::cli {

void add_create_command(CLI::App& app, int& status);
void add_list_command(CLI::App& app, int& status);
void add_lifecycle_commands(CLI::App& app, int& status);
void add_query_commands(CLI::App& app, int& status);
void add_image_command(CLI::App& app, int& status);
void add_block_commands(CLI::App& app, int& status);
void add_network_commands(CLI::App& app, int& status);
void add_rate_commands(CLI::App& app, int& status);
void add_snapshot_command(CLI::App& app, int& status);
void add_sched_commands(CLI::App& app, int& status);
void add_top_command(CLI::App& app, int& status);
void add_vcpu_set_command(CLI::App& app, int& status);
void add_memory_commands(CLI::App& app, int& status);
void add_save_command(CLI::App& app, int& status);
void add_restore_command(CLI::App& app, int& status);
void add_migrate_command(CLI::App& app, int& status);
void add_migrate_receive_command(CLI::App& app, int& status);

}  // namespace domus::cli
