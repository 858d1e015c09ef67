// `domus console DOMAIN`: attach the terminal to a domain's console (Ctrl-] detaches).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace domus::cli {

void add_console_command(CLI::App& app, int& status);
// Attaches to the console behind a monitor control socket; used by `create -c` too.
int attach_console(const std::string& control_socket);

}  // namespace domus::cli
