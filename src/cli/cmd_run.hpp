// `domus run`: boots one domain in the foreground, console on stdin/stdout.
#pragma once

#include <CLI/CLI.hpp>

namespace domus::cli {

// Adds the `run` subcommand to `app`; `status` receives the exit status.
void add_run_command(CLI::App& app, int& status);

}  // namespace domus::cli
