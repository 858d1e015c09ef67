// What the balloon tests ask of a domain running balloon_test.elf and of its memory: its
// store nodes, its commands (data/balloon/cmd and seq, answered in data/balloon/result
// with " #<seq>"), and its size as `domus list` and the host see it. A mixin over a
// fixture derived from ToolstackTest (BalloonTest's, MigrationVcpusTest's).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <regex>
#include <string>

#include "toolstack_fixture.hpp"

namespace domus::test {

template <class Fixture>
class BalloonGuest : public Fixture {
protected:
    // A balloon_test domain of `memory` MiB (`maxmem` its ceiling).
    std::string balloon_config(const std::string& name, int memory, int maxmem) {
        return this->config(name, "name = \"" + name + "\"\nkernel = \"" +
                                      guest_image("balloon_test") +
                                      "\"\nmemory = " + std::to_string(memory) +
                                      "\nmaxmem = " + std::to_string(maxmem) + "\n");
    }

    // Store node `node` below domain `domid`'s home, its first line ("" if none).
    std::string read(int domid, const std::string& node) {
        auto r = this->xenstore("xenstore-read",
                                {"/local/domain/" + std::to_string(domid) + "/" + node});
        return r.status == 0 ? r.out.substr(0, r.out.find('\n')) : "";
    }

    // Runs a balloon_test command in domain `domid` and returns its answer.
    std::string command(int domid, const std::string& cmd) {
        std::string home = "/local/domain/" + std::to_string(domid) + "/data/balloon/";
        std::string seq = std::to_string(++seq_);
        this->xenstore("xenstore-write", {home + "seq", seq});
        this->xenstore("xenstore-write", {home + "cmd", cmd});
        std::string answer;
        this->eventually(
            [&] {
                answer = read(domid, "data/balloon/result");
                return answer.size() > seq.size() + 2 &&
                       answer.substr(answer.size() - seq.size() - 2) == " #" + seq;
            },
            std::chrono::seconds(60));
        return answer.substr(0, answer.rfind(" #"));
    }

    // `domus list`'s memory column for `name` (MiB) in run directory `dir` (default:
    // this test's), or -1.
    long listed_mib(const std::string& name, const std::string& dir = "") {
        std::smatch m;
        std::string list =
            dir.empty()
                ? this->domus({"list"}).out
                : run_process({"/usr/bin/env", "DOMUS_RUN_DIR=" + dir, domus_binary(), "list"},
                              std::chrono::seconds(30))
                      .out;
        std::regex row("\\n" + name + R"(\s+\d+\s+(\d+)\s)");
        return std::regex_search(list, m, row) ? std::stol(m[1].str()) : -1;
    }

    // The host memory the (only) monitor's guest RAM holds in run directory `dir`
    // (default: this test's), in MiB, or -1.
    long host_mib(const std::string& dir = "") {
        for (pid_t pid : run_dir_processes(dir.empty() ? this->run_dir_ : dir)) {
            if (process_name(pid) != "domus-vmm") continue;
            if (long long bytes = guest_ram_bytes(pid); bytes >= 0) return long(bytes >> 20);
        }
        return -1;
    }

private:
    int seq_ = 0;
};

}  // namespace domus::test
