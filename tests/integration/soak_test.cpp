// The churn soak, short (bench/run soak is the long one): sixty domains created and
// destroyed through domusd, at most twenty alive, disks attached and detached, store
// traffic, domusd and the store each killed with SIGKILL once. Nothing may be lost or
// left behind, and what the daemons hold must not grow beyond noise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "soak/soak.hpp"

namespace domus {
namespace {

TEST(SoakTest, ChurnWithDaemonKillsLosesAndLeaksNothing) {
    if (::access("/dev/kvm", R_OK | W_OK) != 0) GTEST_SKIP() << "skipped: no /dev/kvm";
    char pattern[] = "/tmp/domus-soak-XXXXXX";
    ASSERT_NE(::mkdtemp(pattern), nullptr);
    soak::Options options;
    options.run_dir = pattern;
    options.domus = DOMUS_BIN;
    options.guest = std::string(DOMUS_GUEST_DIR) + "/idle.elf";
    options.domains = 60;
    options.max_alive = 20;
    options.disk_every = 10;
    ::setenv("DOMUS_RUN_DIR", options.run_dir.c_str(), 1);
    auto report = soak::run(options);
    soak::stop(options.run_dir);
    std::filesystem::remove_all(options.run_dir);

    for (const auto& error : report.errors)
        ADD_FAILURE() << error;
    EXPECT_EQ(report.created, 60);
    EXPECT_EQ(report.destroyed, 60);
    EXPECT_EQ(report.lost, 0);
    EXPECT_TRUE(report.domusd_restarted);
    EXPECT_TRUE(report.store_restarted);
    EXPECT_GE(report.disk_rounds, 5);
    EXPECT_EQ(report.leftover_monitors, 0);
    // With no domain alive the store holds what it held at the start, node for node.
    EXPECT_EQ(report.nodes_end, report.nodes_start);
    // Both daemons were restarted midway, so their end is a younger process than their
    // start: neither may hold more than it did, beyond noise (1 MiB, 4 descriptors).
    // ASan keeps freed memory in its quarantine: resident memory says nothing there.
#if !DOMUS_UNDER_ASAN
    EXPECT_LE(report.domusd_end.rss_kib, report.domusd_start.rss_kib + 1024);
    EXPECT_LE(report.store_end.rss_kib, report.store_start.rss_kib + 1024);
#endif
    EXPECT_LE(report.domusd_end.fds, report.domusd_start.fds + 4);
    EXPECT_LE(report.store_end.fds, report.store_start.fds + 4);
}

}  // namespace
}  // namespace domus
