// A second "host" for migration tests: a run directory of its own beside the test's
// (its domusd, store and monitors start on first use), torn down with the test; and,
// when given one, a network namespace of its own (`ip netns add`), where its commands
// and everything they start run.
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
    explicit SecondHost(std::string dir, std::string netns = "")
        : dir_(std::move(dir)), netns_(std::move(netns)) {
        std::filesystem::remove_all(dir_);
        if (!netns_.empty())
            run_process({"/usr/sbin/ip", "netns", "add", netns_}, std::chrono::seconds(10));
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
        if (!netns_.empty())
            run_process({"/usr/sbin/ip", "netns", "del", netns_}, std::chrono::seconds(10));
    }
    SecondHost(const SecondHost&) = delete;
    SecondHost& operator=(const SecondHost&) = delete;

    const std::string& dir() const { return dir_; }
    const std::string& netns() const { return netns_; }
    // A command run on this host (in its namespace, if it has one).
    ProcessResult run(std::vector<std::string> argv,
                      std::chrono::milliseconds limit = std::chrono::seconds(60)) const {
        if (!netns_.empty()) argv.insert(argv.begin(), {"/usr/sbin/ip", "netns", "exec", netns_});
        return run_process(argv, limit);
    }
    // `domus ARGS...` against this host's domusd.
    ProcessResult domus(std::vector<std::string> args,
                        std::chrono::milliseconds limit = std::chrono::seconds(60)) const {
        args.insert(args.begin(), {"/usr/bin/env", "DOMUS_RUN_DIR=" + dir_, domus_binary()});
        return run(args, limit);
    }
    // The transport command of `domus migrate -s "" DOM <this>`: the receiver, started
    // on this host.
    std::string transport() const {
        std::string enter = netns_.empty() ? "" : "ip netns exec " + netns_ + " ";
        return enter + "env DOMUS_RUN_DIR=" + dir_ + " " + domus_binary() + " migrate-receive";
    }

private:
    std::string dir_;
    std::string netns_;
};

}  // namespace domus::test
