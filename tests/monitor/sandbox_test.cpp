// The sandbox's allowlist from inside (no guest needed): each death test enters the
// sandbox in its own child process and makes one call the steady state must not make.
#include "monitor/sandbox.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "base/host_files.hpp"

extern char** environ;

namespace domus::monitor {
namespace {

class SandboxDeathTest : public ::testing::Test {
protected:
    void SetUp() override {
        GTEST_FLAG_SET(death_test_style, "threadsafe");  // a fresh, single-threaded child
        ::unsetenv("DOMUS_SANDBOX");
    }

    // In the child: the sandbox, or an exit status the parent will not expect.
    static void enter(FileAccess files = FileAccess::paths) {
        if (!harden_process("sandbox_test", {}) || !enter_sandbox("sandbox_test", files))
            std::_Exit(99);
    }
};

TEST_F(SandboxDeathTest, AForbiddenCallIsNamedAndKillsBySigsys) {
    EXPECT_EXIT(
        {
            enter();
            char* no_arguments[] = {nullptr};
            ::syscall(SYS_execve, "/nonexistent/domus-sandbox-test", no_arguments, environ);
        },
        ::testing::KilledBySignal(SIGSYS),
        "sandbox_test: forbidden system call 59 \\(execve\\) .* sandbox violation");
}

// The allowlist made when Domus was built is installed on every thread, also on those
// started before it, with the names for the report.
TEST_F(SandboxDeathTest, TheAllowlistIsInstalledOnEveryThread) {
    EXPECT_EXIT(
        {
            if (!harden_process("sandbox_test", {})) std::_Exit(99);
            std::atomic<bool> entered = false;
            std::thread other([&] {
                // Started before the filter: it gets it too (TSYNC).
                entered.wait(false);
                char* no_arguments[] = {nullptr};
                ::syscall(SYS_execve, "/nonexistent/domus-sandbox-test", no_arguments, environ);
            });
            if (!enter_sandbox("sandbox_test", FileAccess::paths)) std::_Exit(99);
            entered = true;
            entered.notify_all();
            other.join();
            std::_Exit(0);
        },
        ::testing::KilledBySignal(SIGSYS),
        "sandbox_test: forbidden system call 59 \\(execve\\) .* sandbox violation");
}

TEST_F(SandboxDeathTest, ForkIsForbiddenThreadsAreNot) {
    EXPECT_EXIT(
        {
            enter();
            std::thread([] {}).join();  // clone3 answers ENOSYS, glibc falls back to clone
            (void)::fork();
        },
        ::testing::KilledBySignal(SIGSYS), "forbidden system call 56 \\(clone\\)");
}

// Signals reach this process's own threads only, also in a process forked from another
// (as the pool's parent forks monitors): the pid guard takes the pid of the process that
// enters the sandbox, not of one before it.
TEST_F(SandboxDeathTest, SignalsGoToTheProcesssOwnThreadsOnlyAlsoAfterAFork) {
    EXPECT_EXIT(
        {
            if (!harden_process("sandbox_test", {})) std::_Exit(99);
            pid_t parent = ::getpid();
            pid_t child = ::fork();  // as the pool's parent forks a monitor
            if (child < 0) std::_Exit(99);
            if (child > 0) {
                int status = 0;
                ::waitpid(child, &status, 0);
                std::_Exit(WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status));
            }
            if (!enter_sandbox("sandbox_test", FileAccess::paths)) std::_Exit(99);
            // To its own thread: passes (SIGWINCH is ignored by default).
            if (::syscall(SYS_tgkill, ::getpid(), ::gettid(), SIGWINCH) != 0) std::_Exit(98);
            // To the process it was forked from: forbidden.
            ::syscall(SYS_tgkill, parent, parent, SIGWINCH);
            std::_Exit(97);
        },
        ::testing::ExitedWithCode(128 + SIGSYS), "forbidden system call 234 \\(tgkill\\)");
}

TEST_F(SandboxDeathTest, OnlyUnixSockets) {
    EXPECT_EXIT(
        {
            enter();
            int unix_socket = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (unix_socket < 0) std::_Exit(98);
            (void)::socket(AF_INET, SOCK_STREAM, 0);
        },
        ::testing::KilledBySignal(SIGSYS), "forbidden system call 41 \\(socket\\)");
}

TEST_F(SandboxDeathTest, NoNewExecutableMemory) {
    EXPECT_EXIT(
        {
            enter();
            void* data =
                ::mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (data == MAP_FAILED) std::_Exit(98);
            (void)::mprotect(data, 4096, PROT_READ | PROT_EXEC);
        },
        ::testing::KilledBySignal(SIGSYS), "forbidden system call 10 \\(mprotect\\)");
}

TEST_F(SandboxDeathTest, NoNewVirtualMachine) {
    EXPECT_EXIT(
        {
            enter();
            (void)::ioctl(-1, KVM_RUN, 0);  // allowed: EBADF
            (void)::ioctl(-1, KVM_CREATE_VM, 0);
        },
        ::testing::KilledBySignal(SIGSYS), "forbidden system call 16 \\(ioctl\\)");
}

TEST_F(SandboxDeathTest, TheSteadyStateRunsAndNothingCanBeGainedByExec) {
    EXPECT_EXIT(
        {
            int leaked = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC: as a parent leaks it
            if (!harden_process("sandbox_test", {})) std::_Exit(99);
            if (::fcntl(leaked, F_GETFD) != -1) std::_Exit(1);  // closed
            if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) std::_Exit(2);
            if (::prctl(PR_CAPBSET_READ, 0, 0, 0, 0) != 0) std::_Exit(3);  // CAP_CHOWN gone
            if (!enter_sandbox("sandbox_test", FileAccess::paths)) std::_Exit(99);
            // prctl itself is now forbidden but for thread names.
            std::thread worker([] {
                char path[] = "/tmp/domus-sandbox-test-XXXXXX";
                int fd = ::mkstemp(path);
                bool ok = fd >= 0 && ::write(fd, "x", 1) == 1 && ::fdatasync(fd) == 0;
                ::unlink(path);
                if (fd >= 0) ::close(fd);
                if (!ok) std::_Exit(4);
            });
            worker.join();
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
}

// A monitor under domusd (FileAccess::passed): no file by path, not even one the
// process could read before; the files a request brings open through HostFiles.
TEST_F(SandboxDeathTest, WithPassedFilesNothingOpensByPath) {
    const std::string name = ::testing::TempDir() + "sandbox-passed-" + std::to_string(::getpid());
    {
        Fd made(::open(name.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        ASSERT_TRUE(made);
        ASSERT_EQ(::write(made.get(), "data", 4), 4);
    }
    EXPECT_EXIT(
        {
            const char* path = name.c_str();
            Fd passed(::open(path, O_RDWR | O_CLOEXEC));
            if (!harden_process("sandbox_test", {passed.get()})) std::_Exit(99);
            if (!enter_sandbox("sandbox_test", FileAccess::passed)) std::_Exit(99);
            if (::open(path, O_RDONLY) >= 0 || errno != EACCES) std::_Exit(1);
            if (::unlink(path) == 0 || errno != EACCES) std::_Exit(2);
            if (::rename(path, "/tmp/elsewhere") == 0 || errno != EACCES) std::_Exit(3);
            auto& files = HostFiles::process();
            if (files.has_paths() || files.open(path, O_RDONLY)) std::_Exit(4);
            {
                std::vector<PassedFile> lent;
                lent.push_back({path, path, std::move(passed)});
                auto lease = files.lend(std::move(lent));
                auto opened = files.open(path, O_RDONLY);  // read-only from read-write
                char data[4];
                if (!opened || ::pread(opened->get(), data, 4, 0) != 4) std::_Exit(5);
                if (files.open(path, O_RDWR | O_CREAT)) std::_Exit(6);
                if (!files.real_path(path)) std::_Exit(7);
            }
            if (files.open(path, O_RDONLY)) std::_Exit(8);  // the lease is over
            std::_Exit(0);
        },
        ::testing::ExitedWithCode(0), "");
    ::unlink(name.c_str());
}

TEST_F(SandboxDeathTest, OffMeansOff) {
    EXPECT_EXIT(
        {
            ::setenv("DOMUS_SANDBOX", "off", 1);
            enter();
            char* no_arguments[] = {nullptr};
            ::syscall(SYS_execve, "/nonexistent/domus-sandbox-test", no_arguments, environ);
            std::_Exit(sandbox_enabled() ? 1 : 0);
        },
        ::testing::ExitedWithCode(0), "DOMUS_SANDBOX=off: NO SANDBOX");
}

}  // namespace
}  // namespace domus::monitor
