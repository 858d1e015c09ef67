// run_tool: a host tool's output, its status even where the caller ignores SIGCHLD (as
// domusd does), its input, and a tool that hangs.
#include "toolstack/spawn.hpp"

#include <gtest/gtest.h>
#include <signal.h>

namespace domus::toolstack {
namespace {

TEST(RunToolTest, OutputOnSuccessStatusAndWordsOnFailure) {
    auto said = run_tool({"echo", "hello"});
    ASSERT_TRUE(said) << said.error().message;
    EXPECT_EQ(*said, "hello\n");
    auto failed = run_tool({"ls", "/no/such/file"});
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("ls /no/such/file failed (status 2)"), std::string::npos)
        << failed.error().message;
    EXPECT_NE(failed.error().message.find("No such file"), std::string::npos);
    auto missing = run_tool({"no-such-tool-anywhere"});
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("status 127"), std::string::npos)
        << missing.error().message;
}

TEST(RunToolTest, TheStatusSurvivesAnIgnoredSigchld) {
    struct sigaction old {};
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    ::sigaction(SIGCHLD, &ignore, &old);
    auto ok = run_tool({"true"});
    auto failed = run_tool({"false"});
    ::sigaction(SIGCHLD, &old, nullptr);
    EXPECT_TRUE(ok);
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("status 1"), std::string::npos);
}

TEST(RunToolTest, InputGoesToTheToolAndAHangIsCutOff) {
    auto echoed = run_tool({"cat"}, "a ruleset\n");
    ASSERT_TRUE(echoed);
    EXPECT_EQ(*echoed, "a ruleset\n");
    auto hung = run_tool({"sleep", "30"}, "", std::chrono::milliseconds(200));
    ASSERT_FALSE(hung);
    EXPECT_NE(hung.error().message.find("no answer"), std::string::npos);
}

}  // namespace
}  // namespace domus::toolstack
