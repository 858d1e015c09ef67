// Crash consistency of PV block storage: the monitor is killed with SIGKILL while its
// guest writes as fast as it can (blk_tool crashwrite). qemu-img check must find no
// corruption (leaked clusters are allowed, as after a QEMU crash), and everything the
// guest had flushed (and said so in data/flushed) must be there. The pattern is blk_tool's: word 0
// of each sector is its number, the rest a hash of (seed, sector, word).
#include <gtest/gtest.h>

#include <signal.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

constexpr std::uint64_t kSeed = 11;

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

bool sector_matches(const char* bytes, std::uint64_t sector) {
    std::uint64_t words[64];
    std::memcpy(words, bytes, sizeof(words));
    if (words[0] != sector) return false;
    for (unsigned i = 1; i < 64; ++i)
        if (words[i] != mix(kSeed << 48 ^ sector << 9 ^ i)) return false;
    return true;
}

class CrashConsistencyTest : public ToolstackTest,
                             public ::testing::WithParamInterface<std::string> {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    pid_t monitor_pid() {
        for (pid_t pid : run_dir_processes()) {
            std::ifstream in("/proc/" + std::to_string(pid) + "/cmdline");
            std::string cmdline((std::istreambuf_iterator<char>(in)), {});
            if (cmdline.find("domus-vmm") != std::string::npos) return pid;
        }
        return -1;
    }

    std::uint64_t flushed_sectors() {
        auto r = xenstore("xenstore-read", {"/local/domain/1/data/flushed"});
        return r.status == 0 ? std::strtoull(r.out.c_str(), nullptr, 10) : 0;
    }
};

TEST_P(CrashConsistencyTest, KillingTheMonitorMidWriteLosesNothingFlushed) {
    const std::string format = GetParam();
    std::string disk = run_dir_ + "/crash." + format;
    ASSERT_EQ(domus({"image", "create", disk, "2G", "-f", format}).status, 0);
    std::string cfg = config("cw", "name = \"cw\"\nkernel = \"" + guest_image("blk_tool") +
                                       "\"\nmemory = 64\ndisk = [ '" + disk + "," + format +
                                       ",xvda,w' ]\nextra = \"mode=crashwrite size_mb=2048 " +
                                       "block_kb=128 flush_mb=4 seed=11\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    pid_t pid = monitor_pid();
    ASSERT_GT(pid, 0);
    // Some way in, mid-stream: kill right after reading how far the guest has flushed.
    ASSERT_TRUE(
        eventually([&] { return flushed_sectors() >= 48 * 2048; }, std::chrono::seconds(60)));
    std::uint64_t flushed = flushed_sectors();
    ASSERT_EQ(::kill(pid, SIGKILL), 0);
    ASSERT_TRUE(eventually([&] { return ::kill(pid, 0) != 0; }));
    EXPECT_LT(flushed, 2048ull * 2048) << "the guest finished before the kill";

    if (format == "qcow2") {  // raw has no metadata to check
        // Exit 3: clusters allocated for writes that never got their L2 entry are leaked
        // ("no harm to data", as after a QEMU crash); 2 would be corruption.
        auto check = run_process({"/usr/bin/qemu-img", "check", "-f", format, disk},
                                 std::chrono::seconds(60));
        EXPECT_TRUE(check.status == 0 || check.status == 3) << check.out << check.err;
        EXPECT_EQ(check.out.find("ERROR"), std::string::npos) << check.out;
    }
    ASSERT_EQ(flushed % 128, 0u);  // whole 128 KiB blocks
    std::string raw = run_dir_ + "/flushed.raw";
    auto dd = run_process({"/usr/bin/qemu-img", "dd", "-f", format, "-O", "raw", "bs=64k",
                           "count=" + std::to_string(flushed / 128), "if=" + disk, "of=" + raw},
                          std::chrono::seconds(120));
    ASSERT_EQ(dd.status, 0) << dd.err;
    std::ifstream in(raw, std::ios::binary);
    std::vector<char> sector(512);
    std::uint64_t bad = 0, first_bad = 0;
    for (std::uint64_t s = 0; s < flushed; ++s) {
        ASSERT_TRUE(in.read(sector.data(), 512)) << "short read at sector " << s;
        if (!sector_matches(sector.data(), s) && bad++ == 0) first_bad = s;
    }
    EXPECT_EQ(bad, 0u) << "first bad sector " << first_bad << " of " << flushed << " flushed";
}

INSTANTIATE_TEST_SUITE_P(Formats, CrashConsistencyTest, ::testing::Values("raw", "qcow2"));

}  // namespace
}  // namespace domus::test
