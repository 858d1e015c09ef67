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

    std::unique_ptr<SecondHost> second_;
};

}  // namespace domus::test
