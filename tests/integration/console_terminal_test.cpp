// `domus console` in a real terminal (tmux): the attached terminal is raw (no ONLCR), so
// the guest's console must end its lines with CR LF, as Xen guests do, or each line
// would start where the one before it ended (a staircase).
#include <unistd.h>

#include <sstream>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class ConsoleTerminalTest : public ToolstackTest {
protected:
    void TearDown() override {
        if (!tmux_socket_.empty()) tmux({"kill-server"});
        ToolstackTest::TearDown();
    }

    ProcessResult tmux(std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/tmux", "-S", tmux_socket_});
        return run_process(args, std::chrono::seconds(10));
    }

    std::string tmux_socket_;
};

TEST_F(ConsoleTerminalTest, EveryConsoleLineStartsAtTheLeftEdge) {
    if (::access("/usr/bin/tmux", X_OK) != 0) GTEST_SKIP() << "skipped: tmux not installed";
    ASSERT_EQ(domus({"create", idle_config("term")}).status, 0);
    tmux_socket_ = run_dir_ + "/tmux.sock";
    // A private tmux server whose one window runs the console client (Ctrl-] ends it).
    auto started = tmux({"new-session", "-d", "-x", "160", "-y", "40", "env",
                         "DOMUS_RUN_DIR=" + run_dir_, domus_binary(), "console", "term"});
    ASSERT_EQ(started.status, 0) << started.err;
    std::string screen;
    ASSERT_TRUE(eventually([&] {
        screen = tmux({"capture-pane", "-p"}).out;
        return screen.find("waiting for control/shutdown") != std::string::npos;
    })) << screen;
    // The idle guest's two lines, each at column 0 of its own screen line.
    std::istringstream lines(screen);
    std::string line;
    int found = 0;
    while (std::getline(lines, line)) {
        if (line.find("idle: booted") != std::string::npos) {
            EXPECT_EQ(line.rfind("idle: booted", 0), 0u) << screen;
            ++found;
        }
        if (line.find("idle: running") != std::string::npos) {
            EXPECT_EQ(line.rfind("idle: running", 0), 0u) << screen;
            ++found;
        }
    }
    EXPECT_EQ(found, 2) << screen;
}

}  // namespace
}  // namespace domus::test
