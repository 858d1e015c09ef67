// close_in_background: the last close happens in a child, which goes by "vm-teardown"
// from its birth (a process list read before it first runs must not show it as the
// caller), and the file is closed once the caller has let go of its own copy.
#include "base/deferred_close.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace domus {
namespace {

std::string comm_of(const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/comm");
    std::string name;
    std::getline(in, name);
    return name;
}

TEST(DeferredClose, TheChildIsNamedFromItsBirthAndClosesTheLastCopy) {
    // In a child of the test: the caller is renamed, and must be alone (no other thread).
    pid_t caller = ::fork();
    ASSERT_GE(caller, 0);
    if (caller == 0) {
        // One CPU, first-in-first-out (as root): the child, queued behind us, runs only
        // once we block, so the list below is read before it first runs.
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(sched_getcpu(), &one);
        ::sched_setaffinity(0, sizeof one, &one);
        sched_param fifo{};
        fifo.sched_priority = 1;
        ::sched_setscheduler(0, SCHED_FIFO, &fifo);
        int ends[2];
        if (::pipe(ends) != 0) std::_Exit(10);
        if (!close_in_background(Fd(ends[1]))) std::_Exit(11);
        // Whether or not the child has run yet: every process of ours is "vm-teardown".
        int children = 0;
        for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
            std::string pid = entry.path().filename();
            if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
            std::ifstream stat("/proc/" + pid + "/stat");
            std::string text((std::istreambuf_iterator<char>(stat)), {});
            auto close_paren = text.rfind(')');
            if (close_paren == std::string::npos) continue;
            int ppid = 0;
            char state = 0;
            if (std::sscanf(text.c_str() + close_paren + 1, " %c %d", &state, &ppid) != 2) continue;
            if (ppid != ::getpid()) continue;
            ++children;
            if (comm_of(pid) != "vm-teardown") std::_Exit(12);
        }
        if (comm_of("self") != "vm-teardown") std::_Exit(13);
        char byte;
        if (::read(ends[0], &byte, 1) != 0) std::_Exit(14);  // EOF: the child closed it
        std::_Exit(children <= 1 ? 0 : 15);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(caller, &status, 0), caller);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace domus
