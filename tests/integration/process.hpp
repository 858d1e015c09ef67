// Runs a command with a time limit and captures its output: how integration tests
// drive `domus run` as a user would.
#pragma once

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

}  // namespace domus::test
