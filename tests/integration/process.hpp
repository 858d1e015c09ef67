// Runs a command with a time limit and captures its output: how integration tests
// drive `domus run` as a user would.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace domus::test {

struct ProcessResult {
    int status = -1;  // exit status, or 128 + signal
    bool timed_out = false;
    std::string out;
    std::string err;
    std::chrono::duration<double, std::milli> elapsed{};
};

ProcessResult run_process(const std::vector<std::string>& argv, std::chrono::milliseconds limit,
                          const std::string& input = {});

// A /proc/<pid>/ file's text; empty when the process is gone, even mid-read (where a
// stream would throw ESRCH).
std::string proc_text(pid_t pid, const char* file);
// A process's name (its comm, without the newline).
std::string process_name(pid_t pid);
// The arguments of a process (empty once it is gone).
std::vector<std::string> process_argv(pid_t pid);

// The processes started for `run_dir`: domusd, the store, monitors, each with
// "--run-dir <dir>". Matched argument by argument: another test's monitor mentions a
// directory's name inside other arguments (--disk target=<its own dir>/... starts with
// ours when ours is a prefix of it) and must be left alone.
std::vector<pid_t> run_dir_processes(const std::string& run_dir);

// The host memory a monitor's guest RAM holds now: the blocks of its memfd (exact for
// shared memory, unlike RSS), in bytes; -1 when `pid` has no guest RAM open.
long long guest_ram_bytes(pid_t pid);

}  // namespace domus::test
