// Ballooning end to end: domusd's mem-set/mem-max, the guest's balloon driver, the
// monitor giving the memory back to the host (measured as the guest RAM memfd's
// allocated blocks: st_blocks of /proc/<monitor>/fd/<n>, exact for shmem, unlike RSS,
// which counts only the pages the monitor itself touched), and a guest app allocating
// under pressure (balloon_test.elf).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>

#include "balloon_guest.hpp"

namespace domus::test {
namespace {

class BalloonTest : public BalloonGuest<ToolstackTest> {
protected:
    void TearDown() override {
        ::unsetenv("DOMUS_DAEMON_CONFIG");
        ToolstackTest::TearDown();
    }
    // domusd, started by the CLI, reads its options from $DOMUS_DAEMON_CONFIG.
    void daemon_options(const std::string& text) {
        std::filesystem::create_directories(run_dir_);
        std::string path = run_dir_ + "/domusd.conf";
        std::ofstream(path) << text;
        ::setenv("DOMUS_DAEMON_CONFIG", path.c_str(), 1);
    }

    // "enomem <allocated MiB> <reallocated MiB>": the allocated MiB, or -1.
    static long enomem_after(const std::string& answer) {
        std::smatch m;
        std::regex pattern(R"(^enomem (\d+) (\d+)$)");
        return std::regex_search(answer, m, pattern) ? std::stol(m[1].str()) : -1;
    }

    void wait_ready(int domid) {
        ASSERT_TRUE(eventually([&] { return read(domid, "data/balloon/status") == "ready"; },
                               std::chrono::seconds(30)));
    }
};

TEST_F(BalloonTest, MemSetDownAndUpIsFollowedByTheGuestAndTheHost) {
    ASSERT_EQ(domus({"create", balloon_config("bal", 256, 256)}).status, 0);
    wait_ready(1);
    EXPECT_EQ(listed_mib("bal"), 256);
    // Fill the RAM once, so the host really holds it.
    long first = enomem_after(command(1, "pressure"));
    EXPECT_GT(first, 200);
    long full = host_mib();
    EXPECT_GT(full, 200) << "host MiB";

    ASSERT_EQ(domus({"mem-set", "bal", "64"}).status, 0);
    EXPECT_TRUE(eventually([&] { return listed_mib("bal") == 64; })) << listed_mib("bal");
    EXPECT_TRUE(eventually([&] { return host_mib() <= 64; })) << host_mib();
    EXPECT_EQ(read(1, "memory/target"), "65536");
    // Under pressure: a clean ENOMEM within what is left, and the allocator still works.
    long squeezed = enomem_after(command(1, "pressure"));
    EXPECT_GT(squeezed, 16);
    EXPECT_LT(squeezed, 64);
    EXPECT_LE(host_mib(), 66);

    ASSERT_EQ(domus({"mem-set", "bal", "256m"}).status, 0);
    EXPECT_TRUE(eventually([&] { return listed_mib("bal") == 256; })) << listed_mib("bal");
    long again = enomem_after(command(1, "pressure"));  // the heap grows back into it
    EXPECT_GT(again, first - 8);
    EXPECT_GT(host_mib(), 200);
    auto stats = command(1, "stats");
    EXPECT_EQ(stats.substr(0, stats.find(' ')), "262144") << stats;
}

TEST_F(BalloonTest, MemoryBelowMaxmemStartsBalloonedDown) {
    ASSERT_EQ(domus({"create", balloon_config("small", 48, 256)}).status, 0);
    wait_ready(1);
    EXPECT_EQ(listed_mib("small"), 48);
    long got = enomem_after(command(1, "pressure"));
    EXPECT_GT(got, 8);
    EXPECT_LT(got, 48);
    EXPECT_LE(host_mib(), 50);
    // It may grow to maxmem.
    ASSERT_EQ(domus({"mem-set", "small", "128"}).status, 0);
    EXPECT_TRUE(eventually([&] { return listed_mib("small") == 128; })) << listed_mib("small");
    EXPECT_GT(enomem_after(command(1, "pressure")), 100);
}

TEST_F(BalloonTest, ATargetOutOfReachIsReachedOnceMemoryIsFree) {
    ASSERT_EQ(domus({"create", balloon_config("busy", 128, 128)}).status, 0);
    wait_ready(1);
    auto held = command(1, "hold 100");
    ASSERT_EQ(held, "held 100");
    ASSERT_EQ(domus({"mem-set", "busy", "32"}).status, 0);  // the app holds too much
    EXPECT_TRUE(eventually([&] {
        auto stats = command(1, "stats");
        return stats.find(" 32768 ") != std::string::npos;  // the guest read the target
    }));
    long stuck = listed_mib("busy");
    EXPECT_GT(stuck, 100);
    EXPECT_LT(stuck, 128);  // as far as it could
    EXPECT_EQ(command(1, "release"), "released");
    // The driver retries (every second) and gets there without a new target.
    EXPECT_TRUE(eventually([&] { return listed_mib("busy") == 32; })) << listed_mib("busy");
    EXPECT_LE(host_mib(), 32);
}

TEST_F(BalloonTest, BadSizesAreRefusedWithClearErrors) {
    ASSERT_EQ(domus({"create", balloon_config("bad", 64, 128)}).status, 0);
    wait_ready(1);
    auto refused = [&](std::vector<std::string> args, const std::string& message) {
        auto r = domus(args);
        EXPECT_NE(r.status, 0) << args[0] << " " << args[2];
        EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
    };
    refused({"mem-set", "bad", "lots"}, "invalid memory size \"lots\"");
    refused({"mem-set", "bad", "12x"}, "invalid memory size");
    refused({"mem-set", "bad", "-5"}, "invalid memory size");
    refused({"mem-set", "bad", "4"}, "below the minimum");
    refused({"mem-set", "bad", "1g"}, "above the domain's maxmem (128 MiB)");
    refused({"mem-max", "bad", "32"}, "below the domain's current allocation");
    refused({"mem-max", "bad", "256"}, "above the domain's maxmem (128 MiB)");
    refused({"mem-set", "nobody", "64"}, "no domain \"nobody\"");
    // A lower maximum holds the target back.
    ASSERT_EQ(domus({"mem-max", "bad", "96"}).status, 0);
    refused({"mem-set", "bad", "100"}, "above the domain's maximum (96 MiB, mem-max)");
    EXPECT_EQ(domus({"mem-set", "bad", "96"}).status, 0);
    EXPECT_TRUE(eventually([&] { return listed_mib("bad") == 96; })) << listed_mib("bad");
    EXPECT_EQ(listed_mib("bad"), 96);
}

TEST_F(BalloonTest, OvercommitIsRefusedUnlessAllowed) {
    daemon_options("domain-memory = 300\n");  // the daemon this test starts reads it
    ASSERT_EQ(domus({"create", balloon_config("a", 128, 256)}).status, 0);
    ASSERT_EQ(domus({"create", balloon_config("b", 128, 128)}).status, 0);
    auto r = domus({"create", balloon_config("c", 64, 64)});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("not enough memory: 64 MiB requested, 256 MiB of the 300 MiB"),
              std::string::npos)
        << r.err;
    r = domus({"mem-set", "a", "200"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("not enough memory"), std::string::npos) << r.err;
    EXPECT_EQ(domus({"mem-set", "a", "160"}).status, 0);  // 160 + 128 fits
    auto info = domus({"info"});
    EXPECT_NE(info.out.find("domain_memory_mib"), std::string::npos) << info.out;
    EXPECT_NE(info.out.find("free_memory "), std::string::npos) << info.out;

    // A daemon allowed to overcommit takes both.
    kill_daemon();
    daemon_options("domain-memory = 300\nmemory-overcommit = true\n");
    EXPECT_EQ(domus({"mem-set", "a", "256"}).status, 0);
    EXPECT_EQ(domus({"create", balloon_config("c", 64, 64)}).status, 0);
}

TEST_F(BalloonTest, TheTargetIsKeptAcrossARestart) {
    std::string cfg = config("rs", "name = \"rs\"\nkernel = \"" + guest_image("balloon_test") +
                                       "\"\nmemory = 128\nmaxmem = 128\non_reboot = \"restart\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    wait_ready(1);
    ASSERT_EQ(domus({"mem-set", "rs", "48"}).status, 0);
    ASSERT_TRUE(eventually([&] { return listed_mib("rs") == 48; }));
    ASSERT_EQ(domus({"reboot", "-w", "rs"}).status, 0);
    EXPECT_TRUE(eventually([&] { return listed_mib("rs") == 48; }, std::chrono::seconds(30)))
        << domus({"list"}).out;
}

}  // namespace
}  // namespace domus::test
