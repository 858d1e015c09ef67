// Integration fixture for the toolstack: a private run directory per test, the CLI
// driven as a user would, and every process of that run directory killed afterwards.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "domus_fixture.hpp"
#include "toolstack/cgroup.hpp"

namespace domus::test {

inline std::string repo_dir() {
    return DOMUS_SOURCE_DIR;
}

class ToolstackTest : public DomainTest {
protected:
    void SetUp() override {
        DomainTest::SetUp();
        if (IsSkipped()) return;
        std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
        std::replace(test.begin(), test.end(), '/', '_');  // parameterised tests: "Name/0"
        // The run directory holds UNIX sockets, whose paths must fit in 108 bytes: a long
        // test name is cut and made unique again by its hash.
        constexpr std::size_t kMaxName = 40;
        if (test.size() > kMaxName)
            test = test.substr(0, kMaxName - 9) + "-" +
                   fmt_hex(std::hash<std::string>{}(test)&0xffffffffu);
        run_dir_ = ::testing::TempDir() + "domus-run-" + std::to_string(::getpid()) + "-" + test;
        std::filesystem::remove_all(run_dir_);
        ::setenv("DOMUS_RUN_DIR", run_dir_.c_str(), 1);
    }

    // A failed test's logs (domusd's, each monitor's) go with its run directory: their
    // last lines are printed first, for a CI run's record.
    void print_log_tails() const {
        constexpr std::size_t kLines = 40;
        std::error_code error;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(run_dir_, error)) {
            if (entry.path().extension() != ".log") continue;
            std::ifstream in(entry.path());
            std::vector<std::string> lines;
            for (std::string line; std::getline(in, line);) {
                lines.push_back(std::move(line));
                if (lines.size() > kLines) lines.erase(lines.begin());
            }
            std::printf("---- last %zu lines of %s\n", lines.size(), entry.path().c_str());
            for (const auto& line : lines)
                std::printf("%s\n", line.c_str());
        }
    }

    static std::string fmt_hex(std::size_t value) {
        char text[17];
        std::snprintf(text, sizeof text, "%08zx", value);
        return text;
    }

    void TearDown() override {
        if (run_dir_.empty()) return;
        kill_run_dir_processes(SIGKILL);
        kill_hotplug_daemons();
        if (HasFailure()) print_log_tails();
        std::filesystem::remove_all(run_dir_);
        // The CPU cgroups of the domains the killed domusd left (docs/scheduling.md).
        if (auto mount = toolstack::detect_cpu_cgroup_mount()) {
            std::string parent = toolstack::default_cgroup_parent(run_dir_);
            if (std::filesystem::exists(mount->root + "/" + parent)) {
                auto removed = toolstack::remove_cgroup_parent(*mount, parent);
                EXPECT_TRUE(removed) << removed.error().message;
            }
        }
    }

    // `domus ARGS...` with DOMUS_RUN_DIR set.
    ProcessResult domus(std::vector<std::string> args,
                        std::chrono::milliseconds limit = std::chrono::seconds(60)) {
        args.insert(args.begin(), domus_binary());
        return run_process(args, limit);
    }

    // A new disk image in the run directory (`domus image create`).
    std::string image(const std::string& name, const std::string& size, const std::string& format) {
        std::string path = run_dir_ + "/" + name;
        auto r = domus({"image", "create", path, size, "-f", format});
        EXPECT_EQ(r.status, 0) << r.err;
        return path;
    }

    // A config file in this test's run directory (tests running side by side under
    // ctest -j each have their own, even with the same name); kernel paths are absolute.
    std::string config(const std::string& name, const std::string& body) {
        std::filesystem::create_directories(run_dir_);
        std::string path = run_dir_ + "/" + name + ".cfg";
        std::ofstream(path) << body;
        return path;
    }

    std::string idle_config(const std::string& name, const std::string& extra = "") {
        return config(name, "name = \"" + name + "\"\nkernel = \"" + guest_image("idle") +
                                "\"\nmemory = 16\n" + extra);
    }

    ProcessResult xenstore(const std::string& tool, std::vector<std::string> args) {
        std::string path = run_dir_ + "/xenstored/socket";
        std::vector<std::string> argv = {"/usr/bin/env", "XENSTORED_PATH=" + path,
                                         "/usr/bin/" + tool};
        argv.insert(argv.end(), args.begin(), args.end());
        return run_process(argv, std::chrono::seconds(10));
    }

    // Polls `condition` for up to `limit`.
    template <class Condition>
    static bool eventually(Condition condition,
                           std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (condition()) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return condition();
    }

    // This run directory's processes (process.hpp: matched argument by argument).
    std::vector<pid_t> run_dir_processes() const { return test::run_dir_processes(run_dir_); }

    // True while `pid` exists and is not a zombie.
    static bool process_running(pid_t pid) {
        std::string stat = proc_text(pid, "stat");
        auto close = stat.rfind(')');  // the state follows the command name
        return close != std::string::npos && close + 2 < stat.size() && stat[close + 2] != 'Z';
    }

    // True once every thread of `pid` has exited, so its files (sockets, locks) are
    // closed. A zombie is not enough: the thread-group leader of a killed multi-threaded
    // process turns into one while its other threads are still exiting with the files
    // open, and a client could then still connect to a dying daemon's listening socket.
    static bool process_gone(pid_t pid) {
        if (process_running(pid)) return false;
        std::error_code error;
        std::filesystem::directory_iterator tasks("/proc/" + std::to_string(pid) + "/task", error);
        if (error) return true;  // reaped
        return std::distance(tasks, std::filesystem::directory_iterator()) <= 1;
    }

    // The virtual disk's bytes through its backing chain, read with qemu-img (-U: a
    // domain may hold the chain).
    std::string disk_contents(const std::string& path) {
        std::string raw = run_dir_ + "/contents.raw";
        auto r = run_process({"/usr/bin/qemu-img", "convert", "-U", "-O", "raw", path, raw},
                             std::chrono::seconds(60));
        EXPECT_EQ(r.status, 0) << r.err;
        std::ifstream in(raw, std::ios::binary);
        return std::string((std::istreambuf_iterator<char>(in)), {});
    }

    // Whether someone holds QEMU's "write" permission byte (101) of `path`: a domain or
    // qemu-io using the image for writing.
    static bool held_for_writing(const std::string& path) {
        int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        struct flock lock {};
        lock.l_type = F_WRLCK;
        lock.l_whence = SEEK_SET;
        lock.l_start = 101;
        lock.l_len = 1;
        bool held = fd >= 0 && ::fcntl(fd, F_OFD_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
        if (fd >= 0) ::close(fd);
        return held;
    }

    // True while something accepts connections on the daemon's socket.
    bool daemon_listening() const {
        sockaddr_un address{};
        address.sun_family = AF_UNIX;
        std::string path = run_dir_ + "/domusd.sock";
        if (path.size() >= sizeof(address.sun_path)) return false;
        std::copy(path.begin(), path.end(), address.sun_path);
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        bool connected =
            fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0;
        if (fd >= 0) ::close(fd);
        return connected;
    }

    // SIGKILLs this run directory's domusd and returns once it is gone (process_gone) and
    // nothing listens on its socket any more, which also covers a daemon that killed
    // itself and is still exiting (its /proc entry no longer names the run directory).
    // The next command then starts a new daemon. The number of daemons killed.
    std::size_t kill_daemon() {
        std::size_t killed = 0;
        for (pid_t pid : run_dir_processes()) {
            if (process_name(pid) != "domusd" || ::kill(pid, SIGKILL) != 0) continue;
            ++killed;
            EXPECT_TRUE(eventually([&] { return process_gone(pid); })) << "domusd " << pid;
        }
        EXPECT_TRUE(eventually([&] { return !daemon_listening(); })) << "domusd still listens";
        return killed;
    }

    // What hotplug scripts left running for domains the killed daemons never took down
    // (a NAT vif's dnsmasq): each named by a pid file in the run directory's hotplug
    // state, and killed only if its command line names this run directory.
    void kill_hotplug_daemons() {
        std::error_code error;
        for (const auto& entry :
             std::filesystem::directory_iterator(run_dir_ + "/hotplug", error)) {
            if (entry.path().extension() != ".pid") continue;
            std::ifstream file(entry.path());
            pid_t pid = 0;
            if (!(file >> pid) || pid <= 0) continue;
            bool ours = false;
            for (const auto& arg : process_argv(pid))
                ours = ours || arg.find(run_dir_ + "/") != std::string::npos;
            if (ours && ::kill(pid, SIGKILL) == 0) eventually([&] { return process_gone(pid); });
        }
    }

    // domusd first and until it is gone: it restarts a store that dies while it runs.
    void kill_run_dir_processes(int signal) {
        for (pid_t pid : run_dir_processes())
            if (process_name(pid) == "domusd" && ::kill(pid, signal) == 0)
                eventually([&] { return process_gone(pid); });
        for (pid_t pid : run_dir_processes())
            ::kill(pid, signal);
    }

    std::string run_dir_;
};

}  // namespace domus::test
