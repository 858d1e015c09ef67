// A second "host" for migration tests: a run directory of its own beside the test's
// (its domusd, store and monitors start on first use), torn down with the test.
#pragma once

#include <signal.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "domus_fixture.hpp"
#include "process.hpp"

namespace domus::test {

class SecondHost {
public:
    explicit SecondHost(std::string dir) : dir_(std::move(dir)) {
        std::filesystem::remove_all(dir_);
    }
    ~SecondHost() {
        // domusd first (it would restart what we kill), then what is left of the run dir.
        for (pid_t pid : run_dir_processes(dir_))
            if (process_name(pid) == "domusd") ::kill(pid, SIGKILL);
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (std::chrono::steady_clock::now() < deadline) {
            auto left = run_dir_processes(dir_);
            if (left.empty()) break;
            for (pid_t pid : left)
                ::kill(pid, SIGKILL);
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        std::filesystem::remove_all(dir_);
    }
    SecondHost(const SecondHost&) = delete;
    SecondHost& operator=(const SecondHost&) = delete;

    const std::string& dir() const { return dir_; }
    // `domus ARGS...` against this host's domusd.
    ProcessResult domus(std::vector<std::string> args,
                        std::chrono::milliseconds limit = std::chrono::seconds(60)) const {
        args.insert(args.begin(), {"/usr/bin/env", "DOMUS_RUN_DIR=" + dir_, domus_binary()});
        return run_process(args, limit);
    }
    // The transport command of `domus migrate -s "" DOM <this>`: a local receiver.
    std::string transport() const {
        return "env DOMUS_RUN_DIR=" + dir_ + " " + domus_binary() + " migrate-receive";
    }

private:
    std::string dir_;
};

}  // namespace domus::test
