// QemuTest: the base of the tests that run QEMU's tools against Domus's images: a
// private directory, a loud skip when qemu-img or qemu-io is missing (a weaker test
// passing in its place would hide the gap), the commands every such test runs, and a
// qemu-io process that holds an image open (QEMU's locks) for as long as a test needs.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <spawn.h>
#include <sys/wait.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "base/fd.hpp"

#include "test_files.hpp"

extern char** environ;

namespace domus::storage {

class QemuTest : public ::testing::Test {
protected:
    void SetUp() override {
        // Both come with Debian's qemu-utils (scripts/setup.sh).
        for (const char* tool : {"qemu-img", "qemu-io"})
            if (!testing::have_program(tool))
                GTEST_SKIP() << "skipped: " << tool << " not installed (qemu-utils)";
    }
    testing::TempDir dir;

    // Runs a shell command that must end with exit status `expected`; its output.
    std::string run(const std::string& command, int expected = 0) {
        std::string output;
        int status = testing::run_command(command, &output);
        EXPECT_EQ(status, expected) << command << "\n" << output;
        return output;
    }
    void expect_check_clean(const std::string& path) {
        std::string output = run("qemu-img check " + path);
        EXPECT_NE(output.find("No errors were found"), std::string::npos) << output;
        EXPECT_EQ(output.find("leaked"), std::string::npos) << output;
    }
};

// Whether anyone holds lock byte `byte` of `path` (QEMU's "I hold permission byte-100").
inline bool byte_locked(const std::string& path, off_t byte) {
    Fd probe(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    struct flock lock {};
    lock.l_type = F_WRLCK;
    lock.l_whence = SEEK_SET;
    lock.l_start = byte;
    lock.l_len = 1;
    return ::fcntl(probe.get(), F_OFD_GETLK, &lock) == 0 && lock.l_type != F_UNLCK;
}

// `qemu-io [-r] -f FORMAT PATH` holding the image open, reading its commands from a pipe
// we close at the end (it then quits). Constructed once its lock is in place.
class QemuIoHolder {
public:
    QemuIoHolder(const std::string& path, const std::string& format, bool read_only) {
        int pipe_fds[2];
        EXPECT_EQ(::pipe2(pipe_fds, O_CLOEXEC), 0);
        commands_ = Fd(pipe_fds[1]);
        Fd read_end(pipe_fds[0]);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, read_end.get(), 0);
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
        std::vector<std::string> argv = {"qemu-io", "-f", format, path};
        if (read_only) argv.insert(argv.begin() + 1, "-r");
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        EXPECT_EQ(posix_spawnp(&pid_, "qemu-io", &actions, nullptr, args.data(), environ), 0);
        posix_spawn_file_actions_destroy(&actions);
        // It holds "consistent read" (byte 100), and "write" (101) unless read-only, once
        // its image is open; polled, as no event says so.
        off_t byte = read_only ? 100 : 101;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
        while (!byte_locked(path, byte) && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        EXPECT_TRUE(byte_locked(path, byte)) << "qemu-io did not open " << path;
    }
    ~QemuIoHolder() {
        commands_.reset();
        int status = 0;
        ::waitpid(pid_, &status, 0);
    }
    pid_t pid() const { return pid_; }

private:
    Fd commands_;
    pid_t pid_ = -1;
};

}  // namespace domus::storage
