// The migration tests' fixture: this test's run directory is one host, `second_` (its run
// directory + "-dst", in the same network namespace) the other, each with its own domusd.
#pragma once

#include <memory>
#include <string>

#include "second_host.hpp"
#include "toolstack_fixture.hpp"

namespace domus::test {

class TwoHostsTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        second_ = std::make_unique<SecondHost>(run_dir_ + "-dst");
        dst_ = second_->dir();
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    void TearDown() override {
        second_.reset();
        ToolstackTest::TearDown();
    }

    // The receiver on the host whose run directory is `dir` (a domain moves back, too).
    static std::string transport_to(const std::string& dir) {
        return "env DOMUS_RUN_DIR=" + dir + " " + domus_binary() + " migrate-receive";
    }

    // `domus ARGS...` against the domusd of run directory `dir`.
    static ProcessResult domus_at(const std::string& dir, std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/env", "DOMUS_RUN_DIR=" + dir, domus_binary()});
        return run_process(args, std::chrono::seconds(60));
    }

    // Store node `node` (below the domain's home) of domain `name` in run directory `dir`,
    // its first line; "" when there is no such domain or node.
    static std::string read_at(const std::string& dir, const std::string& name,
                               const std::string& node) {
        auto id = domus_at(dir, {"domid", name});
        if (id.status != 0) return "";
        auto r = run_process({"/usr/bin/env", "XENSTORED_PATH=" + dir + "/xenstored/socket",
                              "/usr/bin/xenstore-read",
                              "/local/domain/" + id.out.substr(0, id.out.find('\n')) + "/" + node},
                             std::chrono::seconds(10));
        return r.status == 0 ? r.out.substr(0, r.out.find('\n')) : "";
    }

    std::unique_ptr<SecondHost> second_;
    std::string dst_;  // second_'s run directory
};

}  // namespace domus::test
