// The monitor's sandbox (docs/sandbox.md) seen from outside: every monitor of a running
// domain has its seccomp filter and no_new_privs, and a forbidden call kills it loudly.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstring>
#include <regex>
#include <set>
#include <string>

#include "toolstack_fixture.hpp"

extern char** environ;

// ASan as GCC (__SANITIZE_ADDRESS__) and clang (__has_feature) say it.

namespace domus::test {
namespace {

// The record the monitor's SIGSYS handler writes (src/monitor/sandbox.cpp).
constexpr const char* kViolation = "forbidden system call 59 (execve) \u2014 sandbox violation";

class SandboxTest : public ToolstackTest {
protected:
    void TearDown() override {
        for (const char* name : {"LD_PRELOAD", "DOMUS_SANDBOX_TRIGGER",
                                 "DOMUS_SANDBOX_TRIGGER_PROCESS", "DOMUS_SANDBOX"})
            ::unsetenv(name);
        for (pid_t pid : children_) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
        }
        ToolstackTest::TearDown();
    }

    // The value of a "Key:\tvalue" line of /proc/<pid>[/task/<tid>]/status.
    static std::string status_field(const std::string& status, const std::string& key) {
        std::smatch m;
        std::regex line("(^|\\n)" + key + ":\\s*(\\S+)");
        return std::regex_search(status, m, line) ? m[2].str() : "";
    }

    // True when every thread of `pid` runs under the seccomp filter (mode 2) with
    // no_new_privs: TSYNC reached the threads that existed when the filter came.
    static bool all_threads_sandboxed(pid_t pid) {
        std::error_code error;
        std::size_t threads = 0;
        for (const auto& task :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", error)) {
            std::string status =
                proc_text(pid, ("task/" + task.path().filename().string() + "/status").c_str());
            if (status.empty()) continue;  // a thread that just ended
            if (status_field(status, "Seccomp") != "2" || status_field(status, "NoNewPrivs") != "1")
                return false;
            ++threads;
        }
        return threads > 0;
    }

    // The monitors (domus-vmm) of this run directory.
    std::vector<pid_t> monitors() {
        std::vector<pid_t> pids;
        for (pid_t pid : run_dir_processes())
            if (process_name(pid) == "domus-vmm") pids.push_back(pid);
        return pids;
    }

    // Starts `domus ARGS...` in the background, its output in `log`.
    pid_t start(std::vector<std::string> args, const std::string& log) {
        args.insert(args.begin(), domus_binary());
        std::vector<char*> argv;
        for (auto& arg : args)
            argv.push_back(arg.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                         0600);
        posix_spawn_file_actions_adddup2(&actions, 1, 2);
        pid_t pid = -1;
        int error = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        EXPECT_EQ(error, 0);
        if (error == 0) children_.push_back(pid);
        return error == 0 ? pid : -1;
    }

    // A `domus run` of the idle guest, attached to this run directory's store (started
    // before by `domus info`) so it keeps running until stopped.
    pid_t start_embedded(const std::string& log) {
        return start({"run", guest_image("idle"), "--no-input", "--store-run-dir", run_dir_,
                      "--domid", "77"},
                     log);
    }

    // Waits for a child started by start(); its wait status.
    int wait_for(pid_t pid) {
        int status = 0;
        EXPECT_EQ(::waitpid(pid, &status, 0), pid);
        children_.erase(std::remove(children_.begin(), children_.end(), pid), children_.end());
        return status;
    }

    // The environment that preloads the trigger into `process`; `file` is what its
    // open-and-remove command goes after.
    void arm_trigger(const std::string& process, const std::string& file = "") {
        ::setenv("LD_PRELOAD", DOMUS_SANDBOX_TRIGGER_LIB, 1);
        ::setenv("DOMUS_SANDBOX_TRIGGER", "1", 1);
        ::setenv("DOMUS_SANDBOX_TRIGGER_FILE", file.c_str(), 1);
        ::setenv("DOMUS_SANDBOX_TRIGGER_PROCESS", process.c_str(), 1);
    }

    void disarm_environment() {
        for (const char* name : {"LD_PRELOAD", "DOMUS_SANDBOX_TRIGGER",
                                 "DOMUS_SANDBOX_TRIGGER_FILE", "DOMUS_SANDBOX_TRIGGER_PROCESS"})
            ::unsetenv(name);
    }

    // Tells the trigger thread of process `pid` to make its forbidden call (SIGURG), or
    // to open and remove its file (SIGWINCH): a signal to that thread alone.
    static void pull_trigger(pid_t pid, int command = SIGURG) {
        std::string tasks = "/proc/" + std::to_string(pid) + "/task";
        std::error_code error;
        for (const auto& task : std::filesystem::directory_iterator(tasks, error)) {
            std::string comm = file_text(task.path() / "comm");
            if (comm.rfind("sandbox-trigger", 0) != 0) continue;
            pid_t tid = std::stoi(task.path().filename().string());
            ASSERT_EQ(::syscall(SYS_tgkill, pid, tid, command), 0) << std::strerror(errno);
            return;
        }
        FAIL() << "process " << pid << " has no trigger thread";
    }

    static std::string file_text(const std::string& path) {
        std::ifstream in(path);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }

    std::string vmm_log(const std::string& domid) {
        return file_text(run_dir_ + "/domains/" + domid + "/vmm.log");
    }

    // The state column of `domus list` for a domain name ("" if not listed).
    std::string state_of(const std::string& name) {
        std::string list = domus({"list"}).out;
        std::smatch m;
        std::regex row("\\n" + name + R"(\s+\d+\s+\d+\s+\d+\s+(\S+))");
        return std::regex_search(list, m, row) ? m[1].str() : "";
    }

    std::vector<pid_t> children_;
};

// The tests that preload the trigger. Under ASan they skip (its runtime must come first
// in the library list); tests/monitor/sandbox_test.cpp covers forbidden calls there.
class SandboxTriggerTest : public SandboxTest {
protected:
    void SetUp() override {
#if DOMUS_UNDER_ASAN
        GTEST_SKIP() << "the preloaded trigger cannot come before the ASan runtime";
#endif
        SandboxTest::SetUp();
    }
};

TEST_F(SandboxTest, EveryMonitorOfTheDaemonRunsUnderItsFilter) {
    for (auto name : {"first", "second"})
        ASSERT_EQ(domus({"create", idle_config(name)}).status, 0);
    ASSERT_TRUE(eventually([&] { return monitors().size() == 2; }));
    EXPECT_TRUE(eventually([&] { return state_of("second") == "-b----"; }));
    std::set<unsigned long> users;
    for (pid_t pid : monitors()) {
        EXPECT_TRUE(all_threads_sandboxed(pid)) << proc_text(pid, "status");
        std::string status = proc_text(pid, "status");
        EXPECT_EQ(status_field(status, "Seccomp"), "2");
        EXPECT_EQ(status_field(status, "NoNewPrivs"), "1");
        // Nothing it could start would gain a capability.
        EXPECT_EQ(status_field(status, "CapBnd"), "0000000000000000");
        EXPECT_EQ(status_field(status, "CapInh"), "0000000000000000");
        EXPECT_EQ(status_field(status, "CapAmb"), "0000000000000000");
        // A user of its own (the default base plus its domain ID), and so no capability.
        EXPECT_EQ(status_field(status, "CapEff"), "0000000000000000");
        EXPECT_EQ(status_field(status, "CapPrm"), "0000000000000000");
        unsigned long uid = std::stoul(status_field(status, "Uid"));
        unsigned long gid = std::stoul(status_field(status, "Gid"));
        EXPECT_GT(uid, 0x6D000000ul) << status;
        EXPECT_LT(uid, 0x6D000000ul + 0x7FF0) << status;
        EXPECT_EQ(gid, uid);
        EXPECT_TRUE(users.insert(uid).second) << "two monitors share user " << uid;
        EXPECT_TRUE(std::regex_search(status, std::regex("\nGroups:[ \t]*\n"))) << status;
        // A mount namespace of its own whose root, every thread's, is empty.
        std::string proc = "/proc/" + std::to_string(pid);
        EXPECT_NE(std::filesystem::read_symlink(proc + "/ns/mnt"),
                  std::filesystem::read_symlink("/proc/self/ns/mnt"));
        std::error_code listed;
        for (const auto& task : std::filesystem::directory_iterator(proc + "/task", listed))
            EXPECT_TRUE(std::filesystem::is_empty(task.path() / "root") || DOMUS_UNDER_ASAN)
                << task.path();  // under ASan the root stays (sandbox.cpp)
        // Its fds: nothing of the daemon's beyond the standard streams.
        std::error_code error;
        for (const auto& fd :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
            auto target = std::filesystem::read_symlink(fd.path(), error).string();
            EXPECT_EQ(target.find("domusd.log"), std::string::npos) << target;
        }
    }
    // Sandboxed monitors still do their work: pause, unpause, a clean shutdown.
    ASSERT_EQ(domus({"pause", "first"}).status, 0);
    ASSERT_EQ(domus({"unpause", "first"}).status, 0);
    EXPECT_EQ(domus({"shutdown", "-w", "first"}).status, 0);
    EXPECT_EQ(state_of("first"), "");
}

TEST_F(SandboxTest, TheMonitorOfDomusRunIsSandboxedToo) {
    std::string log = run_dir_ + "/run.log";
    ASSERT_EQ(domus({"info"}).status, 0);  // the daemon and its store
    pid_t pid = start_embedded(log);
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(eventually([&] {
        return file_text(log).find("idle: running") != std::string::npos;
    })) << file_text(log);
    EXPECT_TRUE(all_threads_sandboxed(pid)) << proc_text(pid, "status");
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    int status = wait_for(pid);
    ASSERT_TRUE(WIFEXITED(status)) << status;
    EXPECT_EQ(WEXITSTATUS(status), kInterrupted) << file_text(log);
}

TEST_F(SandboxTriggerTest, AForbiddenCallKillsTheMonitorAndItsDomainCrashes) {
    arm_trigger("domus-vmm");
    ASSERT_EQ(domus({"create", idle_config("victim", "on_crash = \"preserve\"\n")}).status, 0);
    disarm_environment();
    ASSERT_TRUE(eventually([&] { return state_of("victim") == "-b----"; }));
    ASSERT_EQ(monitors().size(), 1u);
    pid_t monitor = monitors()[0];
    ASSERT_TRUE(all_threads_sandboxed(monitor));
    pull_trigger(monitor);
    EXPECT_TRUE(eventually([&] { return process_gone(monitor); }));
    // Reported as crashed, with the reason in the domain's log and the daemon's.
    EXPECT_TRUE(eventually([&] { return state_of("victim") == "----c-"; })) << domus({"list"}).out;
    std::string record = std::string("domus-vmm: ") + kViolation;
    EXPECT_NE(vmm_log("1").find(record), std::string::npos) << vmm_log("1");
    std::string daemon_log = file_text(run_dir_ + "/domusd.log");
    EXPECT_NE(daemon_log.find(record), std::string::npos) << daemon_log;
    EXPECT_EQ(domus({"destroy", "victim"}).status, 0);
    EXPECT_EQ(state_of("victim"), "");
}

// A monitor of domusd opens no file by path once its domain runs: a host file it could
// have read and removed before stays out of reach, and the domain goes on.
TEST_F(SandboxTriggerTest, TheDaemonsMonitorsOpenAndRemoveNoHostFile) {
    std::string secret = run_dir_ + "/secret";
    arm_trigger("domus-vmm", secret);
    ASSERT_EQ(domus({"create", idle_config("guarded")}).status, 0);
    disarm_environment();
    ASSERT_TRUE(eventually([&] { return state_of("guarded") == "-b----"; }));
    ASSERT_EQ(monitors().size(), 1u);
    { std::ofstream(secret) << "the host's\n"; }
    pull_trigger(monitors()[0], SIGWINCH);
    std::string expected = "sandbox_trigger: unlink " + secret + ": Permission denied";
    ASSERT_TRUE(eventually([&] { return vmm_log("1").find(expected) != std::string::npos; }))
        << vmm_log("1");
    EXPECT_NE(vmm_log("1").find("sandbox_trigger: open " + secret + ": Permission denied"),
              std::string::npos)
        << vmm_log("1");
    EXPECT_TRUE(std::filesystem::exists(secret));
    EXPECT_TRUE(eventually([&] { return state_of("guarded") == "-b----"; }))  // runs on
        << domus({"list"}).out;
    EXPECT_EQ(vmm_log("1").find("sandbox violation"), std::string::npos);
}

TEST_F(SandboxTriggerTest, WithTheSandboxOffTheSameCallPasses) {
    // The trigger above can fail: without the sandbox, the execve just fails (ENOENT).
    arm_trigger("domus-vmm");
    ::setenv("DOMUS_SANDBOX", "off", 1);
    ASSERT_EQ(domus({"create", idle_config("loose")}).status, 0);
    disarm_environment();
    ::unsetenv("DOMUS_SANDBOX");
    ASSERT_TRUE(eventually([&] { return state_of("loose") == "-b----"; }));
    ASSERT_EQ(monitors().size(), 1u);
    pid_t monitor = monitors()[0];
    EXPECT_EQ(status_field(proc_text(monitor, "status"), "Seccomp"), "0");
    EXPECT_NE(vmm_log("1").find("NO SANDBOX"), std::string::npos) << vmm_log("1");
    pull_trigger(monitor);
    EXPECT_TRUE(eventually([&] {
        return vmm_log("1").find("sandbox_trigger: execve") != std::string::npos;
    })) << vmm_log("1");
    EXPECT_EQ(state_of("loose"), "-b----");
    EXPECT_EQ(vmm_log("1").find("sandbox violation"), std::string::npos);
}

TEST_F(SandboxTriggerTest, AForbiddenCallInDomusRunEndsItBySigsys) {
    std::string log = run_dir_ + "/run.log";
    ASSERT_EQ(domus({"info"}).status, 0);  // the daemon and its store, without the trigger
    arm_trigger("domus");
    pid_t pid = start_embedded(log);
    disarm_environment();
    ASSERT_GT(pid, 0);
    ASSERT_TRUE(eventually([&] {
        return file_text(log).find("idle: running") != std::string::npos;
    })) << file_text(log);
    ASSERT_TRUE(all_threads_sandboxed(pid));
    pull_trigger(pid);
    int status = wait_for(pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << status;
    EXPECT_EQ(WTERMSIG(status), SIGSYS);
    EXPECT_NE(file_text(log).find(std::string("domus run: ") + kViolation), std::string::npos)
        << file_text(log);
}

}  // namespace
}  // namespace domus::test
