// domusd's warm monitors (toolstack/monitor_pool.hpp): a create takes one and the pool
// fills again, a taken monitor looks and is sandboxed like any other, the pool ends with
// the daemon while its domains go on, a warm monitor that dies is replaced, and a daemon
// without a pool starts every monitor new.
#include <sched.h>
#include <signal.h>

#include <algorithm>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

class MonitorPoolTest : public ToolstackTest {
protected:
    std::vector<pid_t> named(const std::string& name) const {
        std::vector<pid_t> found;
        for (pid_t pid : run_dir_processes())
            if (process_name(pid) == name && process_running(pid)) found.push_back(pid);
        return found;
    }
    std::vector<pid_t> warm() const { return named("domus-vmm-warm"); }
    std::vector<pid_t> monitors() const { return named("domus-vmm"); }

    static std::string status_field(pid_t pid, const std::string& field) {
        std::string status = proc_text(pid, "status");
        auto at = status.find(field + ":");
        if (at == std::string::npos) return "";
        auto end = status.find('\n', at);
        std::string value = status.substr(at + field.size() + 1, end - at - field.size() - 1);
        value.erase(0, value.find_first_not_of(" \t"));
        return value;
    }

    // The idle guest says it runs through the store.
    bool guest_running(const std::string& domid) {
        auto r = xenstore("xenstore-read", {"/local/domain/" + domid + "/data/idle/status"});
        return r.status == 0 && r.out.find("running") != std::string::npos;
    }

    std::string pool_line() {
        auto r = domus({"info"});
        auto at = r.out.find("monitor_pool");
        return at == std::string::npos ? "" : r.out.substr(at, r.out.find('\n', at) - at);
    }
};

TEST_F(MonitorPoolTest, ACreateTakesAWarmMonitorAndThePoolFillsAgain) {
    ASSERT_EQ(domus({"info"}).status, 0);
    ASSERT_TRUE(eventually([&] { return warm().size() == 2; })) << warm().size();
    auto before = warm();
    for (pid_t pid : before)
        EXPECT_EQ(::sched_getscheduler(pid), SCHED_IDLE) << "a warm monitor's start waits";

    auto r = domus({"create", idle_config("pooled")});
    ASSERT_EQ(r.status, 0) << r.err;
    auto taken = monitors();
    ASSERT_EQ(taken.size(), 1u);
    pid_t monitor = taken[0];
    EXPECT_NE(std::find(before.begin(), before.end(), monitor), before.end())
        << "the domain's monitor was not one of the warm ones";
    // It shows the command line it would have been started with (ps, disk-lock holders).
    auto argv = process_argv(monitor);
    auto name = std::find(argv.begin(), argv.end(), "--name");
    ASSERT_NE(name, argv.end());
    ASSERT_NE(name + 1, argv.end());
    EXPECT_EQ(*(name + 1), "pooled");
    EXPECT_EQ(std::find(argv.begin(), argv.end(), "--warm"), argv.end());
    EXPECT_EQ(::sched_getscheduler(monitor), SCHED_OTHER);
    EXPECT_EQ(status_field(monitor, "Seccomp"), "2");
    EXPECT_EQ(status_field(monitor, "NoNewPrivs"), "1");
    EXPECT_TRUE(eventually([&] { return guest_running("1"); }));
    // Its log is the domain's, not the pool's.
    EXPECT_TRUE(std::filesystem::exists(run_dir_ + "/domains/1/vmm.log"));

    EXPECT_TRUE(eventually([&] { return warm().size() == 2; })) << warm().size();
    EXPECT_EQ(pool_line(),
              "monitor_pool          : 2 warm of 2; starts: 1 from it, 0 new; monitors: 3 forked, "
              "0 exec'd");
    ASSERT_EQ(domus({"destroy", "pooled"}).status, 0);
    EXPECT_TRUE(eventually([&] { return process_gone(monitor); }));
}

TEST_F(MonitorPoolTest, WarmMonitorsEndWithTheDaemonAndItsDomainsDoNot) {
    ASSERT_EQ(domus({"create", idle_config("stays")}).status, 0);
    ASSERT_TRUE(eventually([&] { return warm().size() == 2; }));
    auto pool = warm();
    auto parent = named("domus-vmm-pool");
    ASSERT_EQ(parent.size(), 1u);
    pool.push_back(parent[0]);
    pid_t monitor = monitors().at(0);
    ASSERT_EQ(kill_daemon(), 1u);
    for (pid_t pid : pool)
        EXPECT_TRUE(eventually([&] { return process_gone(pid); })) << "pooled process " << pid;
    EXPECT_TRUE(process_running(monitor));
    // The next daemon finds the domain and starts a pool of its own.
    auto r = domus({"list"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("stays"), std::string::npos) << r.out;
    EXPECT_TRUE(eventually([&] { return warm().size() == 2; }));
    EXPECT_TRUE(guest_running("1"));
}

TEST_F(MonitorPoolTest, AWarmMonitorThatDiedIsReplacedAndCreatesGoOn) {
    ASSERT_EQ(domus({"info"}).status, 0);
    ASSERT_TRUE(eventually([&] { return warm().size() == 2; }));
    for (pid_t pid : warm())
        ::kill(pid, SIGKILL);
    // Whether the daemon has noticed yet or not, the create works.
    auto r = domus({"create", idle_config("after")});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(eventually([&] { return guest_running("1"); }));
    EXPECT_TRUE(eventually([&] { return warm().size() == 2; })) << warm().size();
    EXPECT_EQ(monitors().size(), 1u);
}

// A warm monitor sleeps until it is handed a domain or told to stop (no wake-ups: it
// blocks on its socket and its stop signals alone), and SIGTERM ends it at once.
TEST_F(MonitorPoolTest, AWarmMonitorSleepsAndEndsOnSigterm) {
    ASSERT_EQ(domus({"info"}).status, 0);
    // Both have said `warm` (their start runs under SCHED_IDLE, so late on a busy host):
    // from then on they only wait.
    ASSERT_TRUE(eventually([&] { return pool_line().find(": 2 warm of 2;") != std::string::npos; }))
        << pool_line();
    auto pool = warm();
    ASSERT_EQ(pool.size(), 2u);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // from its report to poll()
    auto before = status_field(pool[0], "voluntary_ctxt_switches");
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_EQ(status_field(pool[0], "voluntary_ctxt_switches"), before)
        << "a warm monitor woke up with nothing to do";
    auto t0 = std::chrono::steady_clock::now();
    ASSERT_EQ(::kill(pool[0], SIGTERM), 0);
    EXPECT_TRUE(eventually([&] { return process_gone(pool[0]); }));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(2));
    EXPECT_TRUE(process_running(pool[1]));
    EXPECT_TRUE(eventually([&] { return warm().size() == 2; })) << warm().size();
}

// The warm monitors are forked by the pool's parent, which has done their common start
// once; should it die, a new parent forks the next ones, and creates go on meanwhile.
TEST_F(MonitorPoolTest, WarmMonitorsAreForkedByThePoolsParentWhichIsReplacedIfItDies) {
    ASSERT_EQ(domus({"info"}).status, 0);
    ASSERT_TRUE(eventually([&] { return warm().size() == 2; }));
    auto parents = named("domus-vmm-pool");
    ASSERT_EQ(parents.size(), 1u);
    pid_t parent = parents[0];
    auto argv = process_argv(parent);
    EXPECT_NE(std::find(argv.begin(), argv.end(), "--warm-parent"), argv.end());
    EXPECT_EQ(status_field(parent, "NoNewPrivs"), "1");
    for (pid_t pid : warm()) {
        EXPECT_EQ(status_field(pid, "PPid"), std::to_string(parent)) << pid;
        EXPECT_EQ(::getsid(pid), pid) << "a session of its own, as an exec'd monitor's";
    }
    EXPECT_NE(pool_line().find("monitors: 2 forked, 0 exec'd"), std::string::npos) << pool_line();

    ASSERT_EQ(::kill(parent, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return process_gone(parent); }));
    for (const char* name : {"one", "two", "three"}) {
        auto r = domus({"create", idle_config(name)});
        ASSERT_EQ(r.status, 0) << r.err;
    }
    EXPECT_TRUE(eventually([&] { return guest_running("3"); }));
    EXPECT_TRUE(eventually([&] { return warm().size() == 2; })) << warm().size();
    parents = named("domus-vmm-pool");
    ASSERT_EQ(parents.size(), 1u);
    EXPECT_NE(parents[0], parent);
    for (pid_t pid : warm())
        EXPECT_EQ(status_field(pid, "PPid"), std::to_string(parents[0])) << pid;
    EXPECT_EQ(monitors().size(), 3u);
}

TEST_F(MonitorPoolTest, WithoutAPoolEveryMonitorStartsNew) {
    std::string options = config("domusd", "monitor-pool = 0\n");
    ::setenv("DOMUS_DAEMON_CONFIG", options.c_str(), 1);
    auto r = domus({"create", idle_config("cold")});
    ::unsetenv("DOMUS_DAEMON_CONFIG");
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_TRUE(eventually([&] { return guest_running("1"); }));
    EXPECT_TRUE(warm().empty());
    EXPECT_EQ(pool_line(),
              "monitor_pool          : 0 warm of 0; starts: 0 from it, 1 new; monitors: 0 forked, "
              "0 exec'd");
    EXPECT_TRUE(named("domus-vmm-pool").empty());
}

}  // namespace
}  // namespace domus::test
