// The toolstack end to end: domusd started by the CLI, several domains, every
// lifecycle verb, on_* actions, and recovery after the daemon is killed.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

using LifecycleTest = ToolstackTest;

// The state column of `domus list` for a domain name ("" if not listed).
std::string state_of(const std::string& list, const std::string& name) {
    std::smatch m;
    std::regex row("\\n" + name + R"(\s+\d+\s+\d+\s+\d+\s+(\S+))");
    return std::regex_search(list, m, row) ? m[1].str() : "";
}

// A daemon still dying (its lock not yet let go) when the next command starts one: that
// command waits for the lock and starts its daemon then, instead of failing after 2 s.
TEST_F(LifecycleTest, ACommandOutwaitsADyingDaemonsLock) {
    std::filesystem::create_directories(run_dir_);
    std::string lock = run_dir_ + "/domusd.lock";
    std::ofstream(lock).flush();
    pid_t holder = ::fork();
    if (holder == 0) {  // holds the lock for 3 s, as a daemon whose threads still exit
        ::execl("/usr/bin/flock", "flock", "-x", lock.c_str(), "/bin/sleep", "3", nullptr);
        ::_exit(127);
    }
    ASSERT_GT(holder, 0);
    ASSERT_TRUE(eventually([&] {
        int fd = ::open(lock.c_str(), O_RDONLY | O_CLOEXEC);
        bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
        ::close(fd);
        return held;
    }));
    auto listed = domus({"list"});
    ::waitpid(holder, nullptr, 0);
    EXPECT_EQ(listed.status, 0) << listed.err;
    EXPECT_NE(listed.out.find("Domain-0"), std::string::npos) << listed.out;
}

TEST_F(LifecycleTest, CreateListAndCleanShutdown) {
    auto created = domus({"create", idle_config("one")});
    ASSERT_EQ(created.status, 0) << created.err;
    EXPECT_NE(created.out.find("Created domain one"), std::string::npos);
    auto list = domus({"list"});
    EXPECT_NE(list.out.find("Domain-0"), std::string::npos);
    EXPECT_TRUE(eventually([&] { return state_of(domus({"list"}).out, "one") == "-b----"; }))
        << domus({"list"}).out;
    // The guest published its own value; dom0's tools see it.
    EXPECT_TRUE(eventually([&] {
        return xenstore("xenstore-read", {"/local/domain/1/data/idle/status"}).out == "running\n";
    }));
    auto shutdown = domus({"shutdown", "-w", "one"});
    EXPECT_EQ(shutdown.status, 0) << shutdown.err;
    EXPECT_EQ(state_of(domus({"list"}).out, "one"), "");
    EXPECT_NE(xenstore("xenstore-read", {"/local/domain/1/name"}).status, 0);  // nodes removed
}

TEST_F(LifecycleTest, Dom0AndGuestExchangeValuesThroughWatches) {
    ASSERT_EQ(domus({"create", idle_config("echo")}).status, 0);
    // idle watches data/ping and copies it to data/pong; a dom0 tool watches the pong.
    EXPECT_TRUE(eventually([&] {
        xenstore("xenstore-write", {"/local/domain/1/data/ping", "hello-42"});
        return xenstore("xenstore-read", {"/local/domain/1/data/pong"}).out == "hello-42\n";
    }));
    EXPECT_EQ(xenstore("xenstore-read", {"/local/domain/1/console/type"}).out, "xenconsoled\n");
    EXPECT_NE(xenstore("xenstore-read", {"/local/domain/1/console/ring-ref"}).out, "0\n");
    // The guest's home is read-only for another unprivileged writer: its nodes are its own.
    auto perms = xenstore("xenstore-ls", {"-p", "/local/domain/1/data"});
    EXPECT_NE(perms.out.find("n1"), std::string::npos) << perms.out;
}

TEST_F(LifecycleTest, SeveralDomainsPauseUnpauseAndDestroy) {
    for (auto name : {"a", "b", "c"})
        ASSERT_EQ(domus({"create", idle_config(name)}).status, 0);
    ASSERT_EQ(domus({"pause", "b"}).status, 0);
    EXPECT_EQ(state_of(domus({"list"}).out, "b"), "--p---");
    ASSERT_EQ(domus({"unpause", "b"}).status, 0);
    EXPECT_NE(state_of(domus({"list"}).out, "b"), "--p---");
    ASSERT_EQ(domus({"destroy", "a"}).status, 0);
    auto list = domus({"list"}).out;
    EXPECT_EQ(state_of(list, "a"), "");
    EXPECT_NE(state_of(list, "b"), "");
    EXPECT_NE(state_of(list, "c"), "");
    EXPECT_EQ(domus({"domid", "c"}).out, "3\n");
    EXPECT_EQ(domus({"domname", "2"}).out, "b\n");
}

TEST_F(LifecycleTest, NamesAreUniqueAndIdsAreNotReused) {
    ASSERT_EQ(domus({"create", idle_config("x")}).status, 0);
    auto again = domus({"create", idle_config("x")});
    EXPECT_NE(again.status, 0);
    EXPECT_NE(again.err.find("already exists"), std::string::npos) << again.err;
    ASSERT_EQ(domus({"create", idle_config("y")}).status, 0);
    EXPECT_EQ(domus({"domid", "y"}).out, "2\n");
}

TEST_F(LifecycleTest, RebootWithRestartComesBackUnderANewId) {
    ASSERT_EQ(domus({"create", idle_config("r", "on_reboot = \"restart\"\n")}).status, 0);
    ASSERT_EQ(domus({"reboot", "r"}).status, 0);
    EXPECT_TRUE(eventually([&] {
        return domus({"domid", "r"}).out == "2\n";
    })) << domus({"list"}).out;
    EXPECT_TRUE(eventually([&] { return state_of(domus({"list"}).out, "r") == "-b----"; }));
}

TEST_F(LifecycleTest, CrashWithPreserveKeepsTheDomainUntilDestroyed) {
    std::string cfg =
        config("crasher", "name = \"crasher\"\nkernel = \"" + guest_image("crash") +
                              "\"\ncmdline = \"mode=null\"\non_crash = \"preserve\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    EXPECT_TRUE(eventually([&] { return state_of(domus({"list"}).out, "crasher") == "----c-"; }));
    ASSERT_EQ(domus({"destroy", "crasher"}).status, 0);
    EXPECT_EQ(state_of(domus({"list"}).out, "crasher"), "");
}

TEST_F(LifecycleTest, AGuestCrashDoesNotDisturbOtherDomains) {
    ASSERT_EQ(domus({"create", idle_config("steady")}).status, 0);
    std::string cfg = config("boom", "name = \"boom\"\nkernel = \"" + guest_image("crash") +
                                         "\"\ncmdline = \"mode=null\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    EXPECT_TRUE(eventually(
        [&] { return state_of(domus({"list"}).out, "boom") == ""; }));  // on_crash=destroy
    EXPECT_EQ(state_of(domus({"list"}).out, "steady"), "-b----");
}

TEST_F(LifecycleTest, DaemonKilledWithDomainsRunningIsRecovered) {
    ASSERT_EQ(domus({"create", idle_config("survivor")}).status, 0);
    ASSERT_EQ(kill_daemon(), 1u);
    // The next command starts a new daemon, which finds the domain again (idle: blocked,
    // once it is not caught running).
    EXPECT_TRUE(eventually([&] { return state_of(domus({"list"}).out, "survivor") == "-b----"; }));
    EXPECT_EQ(domus({"shutdown", "-w", "survivor"}).status, 0);
    EXPECT_EQ(state_of(domus({"list"}).out, "survivor"), "");
}

TEST_F(LifecycleTest, ASecondDaemonForTheSameRunDirectoryRefuses) {
    ASSERT_EQ(domus({"info"}).status, 0);  // the CLI started the first one
    std::string domusd = domus_binary().substr(0, domus_binary().rfind('/')) + "/domusd";
    auto second = run_process({domusd, "--run-dir", run_dir_}, std::chrono::seconds(10));
    EXPECT_EQ(second.status, 1);
    EXPECT_NE(second.err.find("already running"), std::string::npos) << second.err;
    EXPECT_EQ(domus({"list"}).status, 0);  // the first one still answers
}

TEST_F(LifecycleTest, ConfigErrorsNameTheLineAndKey) {
    std::string cfg = config("bad", "name = \"bad\"\nmemory = lots\n");
    auto r = domus({"create", cfg});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("bad.cfg:2: memory"), std::string::npos) << r.err;
}

TEST_F(LifecycleTest, StoreSelfTestFromInsideAGuest) {
    // Kept after poweroff, so its console history is readable even when the test ended
    // before the console attached.
    std::string cfg = config("st", "name = \"st\"\nkernel = \"" + guest_image("store_test") +
                                       "\"\nvcpus = 2\non_poweroff = \"preserve\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    auto console = domus({"console", "st"}, std::chrono::seconds(30));
    EXPECT_NE(console.out.find("store_test: PASS"), std::string::npos) << console.out;
}

}  // namespace
}  // namespace domus::test
