// Disk snapshots of a running domain through domusd: snapshots taken while the guest
// writes and verifies a pattern (blk_tool verify), revert, and the images checked with
// qemu-img. blk_tool's pattern starts every sector with its own sector number, so a
// frozen image is consistent when each sector is either untouched (zero) or carries its
// number, and the written ones form a prefix (the guest writes front to back).
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <vector>

#include "toolstack_fixture.hpp"

namespace domus::test {
namespace {

constexpr std::uint64_t kSector = 512;

class SnapshotTest : public ToolstackTest {
protected:
    void SetUp() override {
        ToolstackTest::SetUp();
        if (IsSkipped()) return;
        ASSERT_EQ(domus({"info"}).status, 0);
    }

    // The virtual disk's bytes, through qemu-img (backing chain included). -U: the
    // preserved domain still holds its active overlay (locked for writing) and qemu-img
    // refuses to read an image in use without it.
    std::vector<char> contents(const std::string& path) {
        std::string raw = run_dir_ + "/contents.raw";
        auto r = run_process({"/usr/bin/qemu-img", "convert", "-U", "-O", "raw", path, raw},
                             std::chrono::seconds(60));
        EXPECT_EQ(r.status, 0) << r.err;
        std::ifstream in(raw, std::ios::binary);
        return std::vector<char>((std::istreambuf_iterator<char>(in)), {});
    }

    // Sectors carrying their number; -1 when a sector is neither that nor zero, or the
    // written ones do not form a prefix.
    static long long written_prefix(const std::vector<char>& bytes) {
        long long written = 0;
        bool gap = false;
        for (std::uint64_t s = 0; s < bytes.size() / kSector; ++s) {
            const char* sector = bytes.data() + s * kSector;
            std::uint64_t number;
            std::memcpy(&number, sector, sizeof(number));
            bool zero = std::all_of(sector, sector + kSector, [](char c) { return c == 0; });
            if (number == s && !zero) {
                if (gap) return -1;
                ++written;
            } else if (zero) {
                gap = true;
            } else {
                return -1;
            }
        }
        return written;
    }

    ProcessResult qemu_check(const std::string& path) {
        return run_process({"/usr/bin/qemu-img", "check", "-U", path}, std::chrono::seconds(30));
    }
};

TEST_F(SnapshotTest, SnapshotsWhileTheGuestWritesAreConsistentAndTheGuestSeesNoChange) {
    std::string disk = image("disk.raw", "96M", "raw");
    std::string cfg =
        config("sw", "name = \"sw\"\nkernel = \"" + guest_image("blk_tool") +
                         "\"\nmemory = 64\non_poweroff = \"preserve\"\ndisk = [ '" + disk +
                         ",raw,xvda,w' ]\nextra = \"mode=verify size_mb=96 block_kb=64 seed=7\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    std::vector<std::string> names;
    for (int i = 0; i < 6; ++i) {
        std::string name = "s" + std::to_string(i);
        auto r = domus({"snapshot", "create", "sw", name});
        ASSERT_EQ(r.status, 0) << r.err;
        EXPECT_NE(r.out.find("paused"), std::string::npos) << r.out;
        names.push_back(name);
    }
    auto console = domus({"console", "sw"}, std::chrono::seconds(60));
    if (console.out.find("blk_tool: PASS") == std::string::npos) {
        for (const std::string& log : {run_dir_ + "/domusd.log", run_dir_ + "/domains/1/vmm.log"}) {
            std::ifstream in(log);
            std::string text((std::istreambuf_iterator<char>(in)), {});
            ADD_FAILURE() << log << ":\n" << text;
        }
    }
    ASSERT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;

    auto list = domus({"snapshot", "list", "sw"});
    ASSERT_EQ(list.status, 0) << list.err;
    for (const auto& name : names)
        EXPECT_NE(list.out.find(name), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("* xvda   s5"), std::string::npos) << list.out;

    // Every frozen image: a prefix of the guest's writes, each one longer than the last.
    long long previous = 0;
    std::string dir = disk + ".snapshots";
    std::vector<std::string> frozen = {disk};
    for (int n = 1; n < 6; ++n)
        frozen.push_back(dir + "/overlay-" + std::to_string(n) + ".qcow2");
    for (const auto& path : frozen) {
        if (path != disk) {
            EXPECT_EQ(qemu_check(path).status, 0) << path;
        }
        long long prefix = written_prefix(contents(path));
        EXPECT_GE(prefix, previous) << path;
        previous = prefix;
    }
    // The active overlay holds the whole pattern.
    std::string active = dir + "/overlay-6.qcow2";
    auto check = qemu_check(active);
    EXPECT_EQ(check.status, 0) << check.out << check.err;
    EXPECT_EQ(written_prefix(contents(active)), 96ll * 2048);
}

TEST_F(SnapshotTest, RevertReturnsTheDisksToTheSnapshot) {
    std::string a = image("a.qcow2", "16M", "qcow2");
    std::string b = image("b.raw", "16M", "raw");
    std::string cfg = config("rv", "name = \"rv\"\nkernel = \"" + guest_image("blk_tool") +
                                       "\"\nmemory = 64\non_poweroff = \"preserve\"\ndisk = [ '" +
                                       a + ",qcow2,xvda,w', '" + b + ",raw,xvdb,w' ]\n" +
                                       "extra = \"mode=verify size_mb=16 seed=3\"\n");
    ASSERT_EQ(domus({"create", cfg}).status, 0);
    auto console = domus({"console", "rv"}, std::chrono::seconds(60));
    ASSERT_NE(console.out.find("blk_tool: PASS"), std::string::npos) << console.out;
    // After the guest wrote xvda: "full". Then an empty state is not reachable, so
    // revert to "full" after a later snapshot and check the content is "full"'s.
    ASSERT_EQ(domus({"snapshot", "create", "rv", "full"}).status, 0);
    ASSERT_EQ(domus({"snapshot", "create", "rv", "later"}).status, 0);
    auto r = domus({"snapshot", "create", "rv", "full"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("already has a snapshot \"full\""), std::string::npos) << r.err;
    r = domus({"snapshot", "create", "rv", "../escape"});
    EXPECT_NE(r.status, 0);
    r = domus({"snapshot", "revert", "rv", "nosuch"});
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.err.find("no snapshot \"nosuch\""), std::string::npos) << r.err;

    std::string dir = a + ".snapshots";
    std::string abandoned = dir + "/overlay-2.qcow2";  // active after "later"
    ASSERT_TRUE(std::filesystem::exists(abandoned));
    r = domus({"snapshot", "revert", "rv", "full"});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(std::filesystem::exists(abandoned));
    std::string active = dir + "/overlay-3.qcow2";
    auto compare =
        run_process({"/usr/bin/qemu-img", "compare", "-U", a, active}, std::chrono::seconds(30));
    EXPECT_EQ(compare.status, 0) << compare.out << compare.err;
    EXPECT_EQ(qemu_check(active).status, 0);
    EXPECT_EQ(qemu_check(a).status, 0);
    auto list = domus({"snapshot", "list", "rv"});
    EXPECT_NE(list.out.find("* xvda   full"), std::string::npos) << list.out;
    EXPECT_NE(list.out.find("* xvdb   full"), std::string::npos) << list.out;
    // The raw disk got the same treatment: its overlay reads as the raw file.
    compare = run_process(
        {"/usr/bin/qemu-img", "compare", "-U", "-f", "raw", b, b + ".snapshots/overlay-3.qcow2"},
        std::chrono::seconds(30));
    EXPECT_EQ(compare.status, 0) << compare.out << compare.err;
}

}  // namespace
}  // namespace domus::test
