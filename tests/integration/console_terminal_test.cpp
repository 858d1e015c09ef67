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
    // A private tmux server whose one window runs the console client.
    auto started = tmux({"new-session", "-d", "-x", "160", "-y", "40", "env",
                         "DOMUS_RUN_DIR=" + run_dir_, domus_binary(), "console", "term"});
    ASSERT_EQ(started.status, 0) << started.err;
    auto screen = [&] { return tmux({"capture-pane", "-p"}).out; };
    ASSERT_TRUE(eventually([&] {
        return screen().find("waiting for control/shutdown") != std::string::npos;
    })) << screen();
    // The client has made the terminal raw (no ONLCR) once its output processing is off.
    std::string tty = tmux({"display-message", "-p", "#{pane_tty}"}).out;
    tty.erase(tty.find_last_not_of("\n") + 1);
    ASSERT_TRUE(eventually([&] {
        auto modes = run_process({"/usr/bin/stty", "-F", tty, "-a"}, std::chrono::seconds(5)).out;
        return modes.find("-opost") != std::string::npos;
    })) << tty;
    // Now the guest prints two lines (an unknown shutdown request is ignored, said aloud).
    for (const char* request : {"first", "second"}) {
        ASSERT_EQ(xenstore("xenstore-write", {"/local/domain/1/control/shutdown", request}).status,
                  0);
        ASSERT_TRUE(eventually([&] { return screen().find(request) != std::string::npos; }))
            << screen();
    }
    std::istringstream lines(screen());
    std::string line;
    int found = 0;
    while (std::getline(lines, line)) {
        for (const char* request : {"\"first\"", "\"second\""})
            if (line.find(request) != std::string::npos) {
                EXPECT_EQ(line.rfind("domus: unknown shutdown request", 0), 0u) << screen();
                ++found;
            }
    }
    EXPECT_EQ(found, 2) << screen();
}

}  // namespace
}  // namespace domus::test
