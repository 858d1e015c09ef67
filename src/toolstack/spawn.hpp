// Starts a helper process (a monitor, the store daemon) detached from the caller: its
// own session, stdin from /dev/null, stdout/stderr appended to a log file, and
// optionally one inherited fd (placed at fd 3) for a readiness report.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace domus::toolstack {

Result<pid_t> spawn_detached(const std::vector<std::string>& argv, const std::string& log_path,
                             int inherited_fd = -1);
// Waits until process `pid` has exited (or does not exist), at most `timeout`; true when
// it is gone. Woken by the exit itself (a pidfd), not by polling.
bool wait_for_exit(pid_t pid, std::chrono::milliseconds timeout);
// Runs a host tool (`argv[0]` found in the sbin and bin directories) to its end, at
// most `timeout`, `input` on its stdin: its stdout when it exits 0, otherwise an error
// naming the command, its status and the last of what it said. (domusd ignores SIGCHLD,
// so the kernel reaps its children: the status comes back through a pipe from sh.)
Result<std::string> run_tool(const std::vector<std::string>& argv, const std::string& input = "",
                             std::chrono::milliseconds timeout = std::chrono::seconds(10));
// The directory of the running executable: sibling binaries are found there.
std::string executable_dir();

}  // namespace domus::toolstack
