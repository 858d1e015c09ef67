// domus-vmm's readiness report, as domusd reads it: "ready" with the monitor's info reply,
// sent once every vCPU thread runs, so domusd places the threads without asking again.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "domus_fixture.hpp"

extern char** environ;

namespace domus::test {
namespace {

using MonitorReadinessTest = DomainTest;

TEST_F(MonitorReadinessTest, TheReportCarriesTheInfoWithEveryVcpuThread) {
    std::string dir = ::testing::TempDir() + "domus-readiness-" + std::to_string(::getpid());
    std::filesystem::create_directories(dir);
    int ends[2];
    ASSERT_EQ(::pipe2(ends, O_CLOEXEC), 0);
    std::string vmm = domus_binary().substr(0, domus_binary().rfind('/')) + "/domus-vmm";
    std::vector<std::string> args = {
        vmm, guest_image("idle"), "--name",         "ready",      "--domid", "77", "--vcpus",
        "3", "--control-socket",  dir + "/control", "--ready-fd", "3"};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, ends[1], 3);
    pid_t pid = 0;
    ASSERT_EQ(::posix_spawn(&pid, vmm.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    ::close(ends[1]);
    std::string report;
    pollfd p{ends[0], POLLIN, 0};
    char buffer[4096];
    while (::poll(&p, 1, 10'000) > 0) {
        ssize_t n = ::read(ends[0], buffer, sizeof buffer);
        if (n <= 0) break;
        report.append(buffer, std::size_t(n));
    }
    ::close(ends[0]);
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    std::filesystem::remove_all(dir);

    ASSERT_EQ(report.rfind("ready ", 0), 0u) << report;
    auto info = nlohmann::json::parse(report.substr(6), nullptr, false);
    ASSERT_TRUE(info.is_object()) << report;
    EXPECT_EQ(info.value("domid", 0), 77);
    EXPECT_TRUE(info.contains("console"));
    ASSERT_EQ(info["vcpu_list"].size(), 3u) << report;
    for (const auto& vcpu : info["vcpu_list"])
        EXPECT_GT(vcpu.value("tid", 0), 0) << report;  // every vCPU thread runs already
}

}  // namespace
}  // namespace domus::test
